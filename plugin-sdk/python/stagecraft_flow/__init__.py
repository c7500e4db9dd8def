"""Write Stagecraft flows in Python.

A flow is one function (or, for a screen, one class) with a decorator:

    from stagecraft_flow import FlowError, autolaunched, log

    @autolaunched
    def score(inputs: dict) -> dict:
        if inputs["income"] <= 0:
            raise FlowError("invalid-input", "income must be positive")
        log.info("scored", applicant=inputs["name"])
        return {"risk": 42}

`componentize-py` (run by `stagecraft flow build`) turns the module into a
WebAssembly component of the matching world in `wit/flow.wit`. Outside a
component — under `python -m unittest`, say — the decorators return the
function unchanged and `log` writes to stderr, so flows are tested as plain
Python.

Values cross the boundary as JSON: inputs arrive as a `dict`, outputs must be
a `dict` (an evaluation returns a `bool`). Raising `FlowError` is a failure on
purpose (a recoverable step error with its code and message); any other
exception traps, and its traceback lands in the step's log.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field as _field
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

try:  # Present only inside a component built by componentize-py.
    import wit_world as _world
    from componentize_py_types import Err as _Err
    from wit_world import exports as _exports
    from wit_world.imports import log as _host_log
    from wit_world.imports import types as _types
except ImportError:  # Plain CPython: unit tests of the flow itself.
    _world = None

__all__ = [
    "Choice",
    "Field",
    "FieldError",
    "FlowError",
    "Form",
    "Invalid",
    "autolaunched",
    "evaluation",
    "log",
    "screen",
]

__version__ = "0.1.0"


class FlowError(Exception):
    """A failure on purpose: the step goes to a recoverable Error.

    `code` is short and machine-readable (`invalid-input`); `message` is for
    the operator who will fix the flow or the data and resume the run.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class FieldError:
    """A problem with one submitted answer, shown next to its field."""

    field: str
    message: str


class Invalid(Exception):
    """Raised by a screen's `submit` when answers are invalid: the work item
    stays open and the assignee corrects them.

    Takes a mapping of field name to message, or `FieldError`s.
    """

    def __init__(self, errors: Union[Mapping[str, str], Iterable[FieldError]]) -> None:
        if isinstance(errors, Mapping):
            errors = [FieldError(name, message) for name, message in errors.items()]
        self.errors = list(errors)
        if not self.errors:
            raise ValueError("Invalid needs at least one field error")
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))


_FIELD_TYPES = ("text", "long-text", "integer", "number", "boolean", "date", "choice")


@dataclass(frozen=True)
class Choice:
    """One option of a `choice` field."""

    value: str
    label: str


@dataclass
class Field:
    """One field of a screen's form.

    `type` is one of "text", "long-text", "integer", "number", "boolean",
    "date" or "choice"; `choices` (for "choice") are `Choice`s or
    `(value, label)` pairs; `default` is any JSON value.
    """

    name: str
    label: str
    type: str = "text"
    required: bool = False
    choices: Sequence[Union[Choice, tuple]] = ()
    help: Optional[str] = None
    default: Any = None

    def __post_init__(self) -> None:
        if self.type not in _FIELD_TYPES:
            raise ValueError(f"field {self.name!r}: type must be one of {', '.join(_FIELD_TYPES)}, not {self.type!r}")
        self.choices = [c if isinstance(c, Choice) else Choice(*c) for c in self.choices]
        if self.type == "choice" and not self.choices:
            raise ValueError(f"field {self.name!r}: a choice field needs choices")


@dataclass
class Form:
    """What the assignee of a work item sees."""

    title: str
    fields: list = _field(default_factory=list)


class _Log:
    """Structured log records, kept by the host with the step run.

    `log.info("scored", applicant="Ada")`: keyword arguments become the
    record's fields. `print` works too (stdout is captured into the same log).
    """

    def _emit(self, level: str, message: str, fields: Mapping[str, Any]) -> None:
        pairs = [(str(k), str(v)) for k, v in fields.items()]
        if _world is None:
            extra = "".join(f" {k}={v}" for k, v in pairs)
            print(f"[{level}] {message}{extra}", file=sys.stderr)
        else:
            _host_log.log(getattr(_host_log.Level, level.upper()), message, pairs)

    def trace(self, message: str, **fields: Any) -> None:
        self._emit("trace", message, fields)

    def debug(self, message: str, **fields: Any) -> None:
        self._emit("debug", message, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._emit("info", message, fields)

    def warn(self, message: str, **fields: Any) -> None:
        self._emit("warn", message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._emit("error", message, fields)


log = _Log()


def _inputs(text: str, what: str = "inputs") -> dict:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise FlowError("invalid-input", f"{what} are not JSON: {e}") from None
    if not isinstance(value, dict):
        raise FlowError("invalid-input", f"{what} must be a JSON object")
    return value


def _outputs(value: Any) -> str:
    if not isinstance(value, dict):
        raise FlowError("invalid-output", f"a flow returns a dict, not {type(value).__name__}")
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as e:
        raise FlowError("invalid-output", f"the outputs are not JSON: {e}") from None


def _host_error(error: FlowError) -> "_Err":
    return _Err(_types.FlowError(code=error.code, message=error.message))


def _protocol(fn: Callable, interface: str) -> type:
    """The export componentize-py generated for this world, or a clear error
    when the flow's kind is not the kind it is being built as."""
    exported = getattr(_exports, interface, None)
    if exported is None:
        raise TypeError(
            f"{fn.__module__}.{fn.__name__} is a {interface.lower()} flow, "
            "but this component is being built as another kind"
        )
    return exported


def _export(fn: Callable, interface: str, cls: type) -> None:
    """Puts the class componentize-py looks for into the flow's module."""
    protocol = _protocol(fn, interface)
    sys.modules[fn.__module__].__dict__[interface] = type(interface, (cls, protocol), {})


def autolaunched(fn: Callable[[dict], dict]) -> Callable[[dict], dict]:
    """Makes `fn(inputs: dict) -> dict` the flow of a background step."""
    if _world is not None:

        class _Autolaunched:
            def run(self, inputs: str) -> str:
                try:
                    return _outputs(fn(_inputs(inputs)))
                except FlowError as e:
                    raise _host_error(e) from None

        _export(fn, "Autolaunched", _Autolaunched)
    return fn


def evaluation(fn: Callable[[dict], bool]) -> Callable[[dict], bool]:
    """Makes `fn(inputs: dict) -> bool` an evaluation flow (an exit or entry
    condition)."""
    if _world is not None:

        class _Evaluation:
            def evaluate(self, inputs: str) -> bool:
                try:
                    met = fn(_inputs(inputs))
                except FlowError as e:
                    raise _host_error(e) from None
                if not isinstance(met, bool):
                    raise _host_error(FlowError("invalid-output", f"an evaluation returns a bool, not {type(met).__name__}"))
                return met

        _export(fn, "Evaluation", _Evaluation)
    return fn


def screen(cls: type) -> type:
    """Makes a class with `render(self, inputs) -> Form` and
    `submit(self, inputs, answers) -> dict` the flow behind a work item.
    `submit` raises `Invalid` for answers the assignee must correct."""
    for method in ("render", "submit"):
        if not callable(getattr(cls, method, None)):
            raise TypeError(f"screen flow {cls.__name__} needs a {method} method")
    if _world is not None:
        flow = cls()
        _protocol(cls, "Screen")
        from wit_world.exports import screen as wit

        class _Screen:
            def render(self, inputs: str):
                try:
                    form = flow.render(_inputs(inputs))
                    if not isinstance(form, Form):
                        raise FlowError("invalid-output", f"render returns a Form, not {type(form).__name__}")
                    return _wit_form(wit, form)
                except FlowError as e:
                    raise _host_error(e) from None

            def submit(self, inputs: str, answers: str) -> str:
                try:
                    return _outputs(flow.submit(_inputs(inputs), _inputs(answers, "answers")))
                except Invalid as e:
                    raise _Err(wit.SubmitError_Invalid([wit.FieldError(x.field, x.message) for x in e.errors])) from None
                except FlowError as e:
                    raise _Err(wit.SubmitError_Failed(_types.FlowError(code=e.code, message=e.message))) from None

        _export(cls, "Screen", _Screen)
    return cls


def _wit_form(wit: Any, form: Form):
    fields = []
    for f in form.fields:
        fields.append(
            wit.Field(
                name=f.name,
                label=f.label,
                field_type=getattr(wit.FieldType, f.type.upper().replace("-", "_")),
                required=f.required,
                choices=[wit.Choice(c.value, c.label) for c in f.choices],
                help=f.help,
                default_value=None if f.default is None else json.dumps(f.default),
            )
        )
    return wit.Form(title=form.title, fields=fields)
