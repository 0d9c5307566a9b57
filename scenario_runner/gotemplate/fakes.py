"""GripMock's ``faker`` helpers (``{{faker.Person.FirstName}}``) on the ``faker`` package.

The package is imported the first time a template calls ``faker``, never before: a run
whose stubs do not use it does not pay for the import. One :class:`FakerRoot` per session;
with a seed its values are the same on every run.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from .values import GoObject

__all__ = ["FakerRoot"]

_DOMAINS = (
    "Person",
    "Contact",
    "Geo",
    "Network",
    "Company",
    "Commerce",
    "Text",
    "DateTime",
    "Identity",
    "Number",
)


def _iso(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


class _Domain(GoObject):
    def __init__(self, fake: Any) -> None:
        self._fake = fake


class _Person(_Domain):
    members = frozenset({"FirstName", "LastName", "Name", "Prefix", "Suffix", "Gender", "Age"})

    def FirstName(self) -> str:
        return str(self._fake.first_name())

    def LastName(self) -> str:
        return str(self._fake.last_name())

    def Name(self) -> str:
        return str(self._fake.name())

    def Prefix(self) -> str:
        return str(self._fake.prefix())

    def Suffix(self) -> str:
        return str(self._fake.suffix())

    def Gender(self) -> str:
        return str(self._fake.random_element(("male", "female")))

    def Age(self) -> int:
        return int(self._fake.random_int(18, 90))


class _Contact(_Domain):
    members = frozenset({"Email", "Phone", "Username", "URL"})

    def Email(self) -> str:
        return str(self._fake.email())

    def Phone(self) -> str:
        return str(self._fake.phone_number())

    def Username(self) -> str:
        return str(self._fake.user_name())

    def URL(self) -> str:
        return str(self._fake.url())


class _Geo(_Domain):
    members = frozenset(
        {"Country", "CountryCode", "City", "State", "StateCode", "Zip", "Street"}
        | {"Latitude", "Longitude", "TimeZone"}
    )

    def Country(self) -> str:
        return str(self._fake.country())

    def CountryCode(self) -> str:
        return str(self._fake.country_code())

    def City(self) -> str:
        return str(self._fake.city())

    def State(self) -> str:
        return str(self._fake.state())

    def StateCode(self) -> str:
        return str(self._fake.state_abbr())

    def Zip(self) -> str:
        return str(self._fake.postcode())

    def Street(self) -> str:
        return str(self._fake.street_address())

    def Latitude(self) -> float:
        return float(self._fake.latitude())

    def Longitude(self) -> float:
        return float(self._fake.longitude())

    def TimeZone(self) -> str:
        return str(self._fake.timezone())


class _Network(_Domain):
    members = frozenset(
        {"DomainName", "DomainSuffix", "IPv4", "IPv6", "MAC", "UserAgent"}
        | {"HTTPMethod", "HTTPStatusCode"}
    )

    def DomainName(self) -> str:
        return str(self._fake.domain_name())

    def DomainSuffix(self) -> str:
        return str(self._fake.tld())

    def IPv4(self) -> str:
        return str(self._fake.ipv4())

    def IPv6(self) -> str:
        return str(self._fake.ipv6())

    def MAC(self) -> str:
        return str(self._fake.mac_address())

    def UserAgent(self) -> str:
        return str(self._fake.user_agent())

    def HTTPMethod(self) -> str:
        return str(self._fake.http_method())

    def HTTPStatusCode(self) -> int:
        return int(self._fake.random_element((200, 201, 204, 400, 401, 403, 404, 409, 500, 503)))


class _Company(_Domain):
    members = frozenset({"Company", "CompanySuffix", "JobTitle", "JobLevel", "JobDescriptor"})

    def Company(self) -> str:
        return str(self._fake.company())

    def CompanySuffix(self) -> str:
        return str(self._fake.company_suffix())

    def JobTitle(self) -> str:
        return str(self._fake.job())

    def JobLevel(self) -> str:
        return str(self._fake.random_element(("Junior", "Mid", "Senior", "Lead", "Principal")))

    def JobDescriptor(self) -> str:
        return str(self._fake.random_element(("Lead", "Senior", "Chief", "Global", "Direct")))


class _Commerce(_Domain):
    members = frozenset(
        {"ProductName", "ProductCategory", "ProductDescription", "CurrencyLong"}
        | {"CurrencyShort", "Price"}
    )

    def ProductName(self) -> str:
        return f"{self._fake.color_name()} {self._fake.word().capitalize()}"

    def ProductCategory(self) -> str:
        return str(
            self._fake.random_element(("Electronics", "Books", "Garden", "Toys", "Sports", "Home"))
        )

    def ProductDescription(self) -> str:
        return str(self._fake.sentence())

    def CurrencyLong(self) -> str:
        return str(self._fake.currency_name())

    def CurrencyShort(self) -> str:
        return str(self._fake.currency_code())

    def Price(self, low: Any = 0, high: Any = 1000) -> float:
        value = self._fake.pyfloat(min_value=float(low), max_value=float(high), right_digits=2)
        return float(value)


class _Text(_Domain):
    members = frozenset({"Word", "Sentence", "Paragraph", "Phrase", "Quote", "Question"})

    def Word(self) -> str:
        return str(self._fake.word())

    def Sentence(self, words: Any = 8) -> str:
        return str(self._fake.sentence(nb_words=max(1, int(words)), variable_nb_words=False))

    def Paragraph(self, count: Any = 1) -> str:
        return "\n".join(self._fake.paragraph() for _ in range(max(1, int(count))))

    def Phrase(self) -> str:
        return " ".join(self._fake.words(2))

    def Quote(self) -> str:
        return str(self._fake.sentence())

    def Question(self) -> str:
        return str(self._fake.sentence()).rstrip(".") + "?"


class _DateTime(_Domain):
    members = frozenset(
        {"Date", "PastDate", "FutureDate", "Year", "Month", "Day", "Hour", "Minute"}
        | {"Second", "WeekDay"}
    )

    def Date(self) -> str:
        return _iso(self._fake.date_time_between("-10y", "+10y", tzinfo=_dt.timezone.utc))

    def PastDate(self) -> str:
        return _iso(self._fake.past_datetime(tzinfo=_dt.timezone.utc))

    def FutureDate(self) -> str:
        return _iso(self._fake.future_datetime(tzinfo=_dt.timezone.utc))

    def Year(self) -> int:
        return int(self._fake.year())

    def Month(self) -> int:
        return int(self._fake.month())

    def Day(self) -> int:
        return int(self._fake.day_of_month())

    def Hour(self) -> int:
        return int(self._fake.random_int(0, 23))

    def Minute(self) -> int:
        return int(self._fake.random_int(0, 59))

    def Second(self) -> int:
        return int(self._fake.random_int(0, 59))

    def WeekDay(self) -> str:
        return str(self._fake.day_of_week())


class _Identity(_Domain):
    members = frozenset({"UUID", "SSN", "EIN"})

    def UUID(self) -> str:
        return str(self._fake.uuid4())

    def SSN(self) -> str:
        return str(self._fake.ssn())

    def EIN(self) -> str:
        return f"{self._fake.random_int(10, 99)}-{self._fake.random_int(1000000, 9999999)}"


class _Number(_Domain):
    members = frozenset(
        {"Int", "IntN", "IntRange", "Int32", "Int64", "Float32", "Float32Range"}
        | {"Float64", "Float64Range"}
    )

    def Int(self) -> int:
        return int(self._fake.random_int(0, 2**31 - 1))

    def IntN(self, limit: Any) -> int:
        return int(self._fake.random_int(0, max(0, int(limit) - 1)))

    def IntRange(self, low: Any, high: Any) -> int:
        return int(self._fake.random_int(int(low), int(high)))

    def Int32(self) -> int:
        return int(self._fake.random_int(0, 2**31 - 1))

    def Int64(self) -> int:
        return int(self._fake.random_int(0, 2**53))

    def Float32(self) -> float:
        return float(self._fake.pyfloat(min_value=0, max_value=1))

    def Float32Range(self, low: Any, high: Any) -> float:
        return float(self._fake.pyfloat(min_value=float(low), max_value=float(high)))

    def Float64(self) -> float:
        return float(self._fake.pyfloat(min_value=0, max_value=1))

    def Float64Range(self, low: Any, high: Any) -> float:
        return float(self._fake.pyfloat(min_value=float(low), max_value=float(high)))


_CLASSES: dict[str, type[_Domain]] = {
    "Person": _Person,
    "Contact": _Contact,
    "Geo": _Geo,
    "Network": _Network,
    "Company": _Company,
    "Commerce": _Commerce,
    "Text": _Text,
    "DateTime": _DateTime,
    "Identity": _Identity,
    "Number": _Number,
}


class FakerRoot(GoObject):
    """What ``faker`` returns in a template: the ten domains, on one generator."""

    members = frozenset(_DOMAINS)

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self._domains: dict[str, _Domain] | None = None

    def member(self, name: str) -> Any:
        if name not in self.members:
            raise LookupError(
                f"can't evaluate field {name} in faker (domains: {', '.join(_DOMAINS)})"
            )
        if self._domains is None:
            from faker import Faker  # imported only when a template uses faker

            fake = Faker("en_US")
            if self._seed is not None:
                fake.seed_instance(self._seed)
            self._domains = {key: cls(fake) for key, cls in _CLASSES.items()}
        return self._domains[name]
