"""Reading the YAML of config and convention files without letting the file decide the cost.

``yaml.safe_load`` expands aliases: nine lines of anchors referring to anchors ("billion
laughs") become 10^9 nodes, minutes of CPU and gigabytes. Neither file needs aliases, so an
alias is refused with the line it is on. The text's size and nesting are bounded too.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_YAML_BYTES = 1024 * 1024
"""A config or convention file is a page of settings; a larger one is refused unread."""


class YamlError(ValueError):
    """The YAML cannot be used; the message says why and where (it follows "<file>: ")."""


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader, refusing aliases (``*name``) before anything is expanded."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            mark = event.start_mark
            raise YamlError(
                f"line {mark.line + 1}, column {mark.column + 1}: YAML aliases (*{event.anchor}) are not "
                "allowed in this file; write the value out"
            )
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """Parse ``text`` as YAML with the safe loader, no aliases, at most :data:`MAX_YAML_BYTES`."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_YAML_BYTES:
        raise YamlError(f"{size} bytes, over the limit of {MAX_YAML_BYTES} for this file")
    loader = _NoAliasLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {exc}") from None
    except RecursionError:
        raise YamlError("not valid YAML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than int() converts
        if isinstance(exc, YamlError):
            raise
        raise YamlError(f"not usable YAML: {exc}") from None
    finally:
        loader.dispose()
