"""What goes wrong with a Go template: it does not parse, or it fails while rendering."""

from __future__ import annotations

from ..errors import ScenarioError

__all__ = ["GoTemplateError", "GoTemplateSyntaxError"]


class GoTemplateSyntaxError(ScenarioError, ValueError):
    """The text is not a valid Go template; the message names the offending part."""


class GoTemplateError(ScenarioError):
    """The template failed while rendering; the message says where and why."""
