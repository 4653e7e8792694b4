"""The part of API Gateway's mapping-template language (Velocity) that MOCK integration responses use.

CDK's CORS preflight for several allowed origins renders this response template (aws-cdk-lib
aws-apigateway `addCorsPreflight`): the static `Access-Control-Allow-Origin` is the first origin, and
an Origin equal to one of the others is echoed instead:

    #set($origin = $input.params().header.get("Origin"))
    #if($origin == "")
      #set($origin = $input.params().header.get("origin"))
    #end
    #if($origin == "https://b.example" || $origin == "https://c.example")
      #set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)
    #end

Supported: `#set`, `#if`/`#elseif`/`#else`/`#end`, `##` comments, `==` `!=` `&&` `||` `!` and
parentheses, string literals, `$variables`, `$input.params().header|querystring|path.get("name")`,
`$input.params("name")`, and the targets `$context.responseOverride.header.<Name>` and
`$context.responseOverride.status`. Anything else is refused with TemplateError when the template is
loaded, never skipped. As in Velocity 1.7, `#set` to a null value (a missing header) leaves the variable
unchanged and null equals no string. Header names are matched as the client sent them: a browser on
HTTP/1.1 (the local server) sends `Origin`; what AWS does with a lower-case `origin` is not documented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from local_runtime.templates import TemplateError

_PARAM_KINDS = ("header", "querystring", "path")
_OVERRIDE = "context.responseOverride."


@dataclass(frozen=True)
class Ref:
    """A reference: `$origin`, `$input.params().header.get("Origin")`, `$context.responseOverride...`."""

    text: str
    kind: str  # "var" | "param" | "override"
    name: str  # variable name, parameter name, or override target ("header.X" / "status")
    param_kind: str | None = None  # header | querystring | path | None (any, as $input.params("x"))


@dataclass
class Rendered:
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None


@dataclass
class Request:
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    path: dict[str, str] = field(default_factory=dict)


# --- parsing -----------------------------------------------------------------------------------------

_SEGMENT = r"[A-Za-z_][A-Za-z0-9_-]*"
_STRING = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_ARGS = rf"\((?:\s*(?:{_STRING})\s*)?\)"  # no argument or one string
# $name, $a.b.c, $a.b("x").c(), optionally quiet ($!) or braced (${...})
_REF = re.compile(
    rf"\$!?(?P<brace>\{{)?(?P<body>{_SEGMENT}(?:\.{_SEGMENT}(?:{_ARGS})?|{_ARGS})*)(?(brace)\}})"
)
_PARAMS_GET = re.compile(
    rf"input\.params\(\)\.(?P<kind>header|querystring|path)\.get\(\s*(?P<name>{_STRING})\s*\)"
)
_PARAMS_ANY = re.compile(rf"input\.params\(\s*(?P<name>{_STRING})\s*\)")
_OVERRIDE_TARGET = re.compile(
    rf"context\.responseOverride\.(?:header\.(?P<header>{_SEGMENT})|(?P<status>status))"
)
_TOKEN = re.compile(rf"\s*(?:(?P<string>{_STRING})|(?P<op>==|!=|&&|\|\||!|\(|\)|=)|(?P<ref>\$))")


def _unquote(literal: str) -> str:
    if literal.startswith("'"):
        return literal[1:-1]
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def _ref(text: str, body: str) -> Ref:
    if re.fullmatch(_SEGMENT, body) and "-" not in body:
        return Ref(text, "var", body)
    if match := _PARAMS_GET.fullmatch(body):
        return Ref(text, "param", _unquote(match["name"]), match["kind"])
    if match := _PARAMS_ANY.fullmatch(body):
        return Ref(text, "param", _unquote(match["name"]))
    if match := _OVERRIDE_TARGET.fullmatch(body):
        return Ref(text, "override", f"header.{match['header']}" if match["header"] else "status")
    raise TemplateError(f"mapping template reference {text} is not emulated locally")


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0

    def fail(self, message: str) -> TemplateError:
        line = self.source.count("\n", 0, self.pos) + 1
        return TemplateError(f"mapping template line {line}: {message}")

    # Statements: a list of ("text", str) | ("ref", Ref) | ("set", Ref, expr) | ("if", [(cond, body)], else)
    def block(self, closers: tuple[str, ...]) -> tuple[list[Any], str | None]:
        nodes: list[Any] = []
        text = ""
        while self.pos < len(self.source):
            rest = self.source[self.pos :]
            if rest.startswith("##"):
                end = self.source.find("\n", self.pos)
                self.pos = len(self.source) if end < 0 else end
                continue
            directive = re.match(
                r"#\{?(set|if|elseif|else|end|foreach|macro|parse|include|define|break|stop)\b\}?", rest
            )
            if directive:
                if text:
                    nodes.append(("text", text))
                    text = ""
                word = directive.group(1)
                self.pos += directive.end()
                if word in closers:
                    return nodes, word
                if word == "set":
                    self.expect("(")
                    target = self.reference()
                    self.expect("=")
                    value = self.expression()
                    self.expect(")")
                    if target.kind == "param":
                        raise self.fail(f"cannot #set {target.text}")
                    nodes.append(("set", target, value))
                elif word == "if":
                    nodes.append(self.conditional())
                else:
                    raise self.fail(f"#{word} is not emulated locally")
                continue
            if rest.startswith("$"):
                match = _REF.match(rest)
                if match:
                    if text:
                        nodes.append(("text", text))
                        text = ""
                    nodes.append(("ref", _ref(match.group(0), match["body"])))
                    self.pos += match.end()
                    continue
            text += self.source[self.pos]
            self.pos += 1
        if text:
            nodes.append(("text", text))
        if closers:
            raise self.fail(f"missing #{closers[-1]}")
        return nodes, None

    def conditional(self) -> tuple[Any, ...]:
        branches = []
        condition = self.parenthesised()
        while True:
            body, closer = self.block(("elseif", "else", "end"))
            branches.append((condition, body))
            if closer == "elseif":
                condition = self.parenthesised()
                continue
            otherwise: list[Any] = []
            if closer == "else":
                otherwise, _ = self.block(("end",))
            return ("if", branches, otherwise)

    def parenthesised(self) -> Any:
        self.expect("(")
        condition = self.expression()
        self.expect(")")
        return condition

    def token(self) -> tuple[str, str] | None:
        match = _TOKEN.match(self.source, self.pos)
        if not match:
            return None
        kind = match.lastgroup or ""
        return kind, match.group(kind)

    def peek(self) -> tuple[str, str] | None:
        return self.token()

    def expect(self, op: str) -> None:
        token = self.token()
        if token != ("op", op):
            raise self.fail(f"expected {op!r}")
        self.pos = _TOKEN.match(self.source, self.pos).end()  # type: ignore[union-attr]

    def accept(self, op: str) -> bool:
        if self.peek() == ("op", op):
            self.expect(op)
            return True
        return False

    def reference(self) -> Ref:
        match = re.compile(r"\s*").match(self.source, self.pos)
        start = match.end() if match else self.pos
        ref = _REF.match(self.source, start)
        if not ref:
            raise self.fail("expected a $reference")
        self.pos = ref.end()
        return _ref(ref.group(0), ref["body"])

    def expression(self) -> Any:
        left = self.conjunction()
        while self.accept("||"):
            left = ("or", left, self.conjunction())
        return left

    def conjunction(self) -> Any:
        left = self.comparison()
        while self.accept("&&"):
            left = ("and", left, self.comparison())
        return left

    def comparison(self) -> Any:
        left = self.unary()
        for op in ("==", "!="):
            if self.accept(op):
                return (op, left, self.unary())
        return left

    def unary(self) -> Any:
        if self.accept("!"):
            return ("not", self.unary())
        if self.accept("("):
            inner = self.expression()
            self.expect(")")
            return inner
        token = self.peek()
        if token and token[0] == "string":
            self.pos = _TOKEN.match(self.source, self.pos).end()  # type: ignore[union-attr]
            return ("str", _unquote(token[1]))
        if token and token[0] == "ref":
            return ("ref", self.reference())
        raise self.fail("expected a string or a $reference")


@dataclass(frozen=True)
class Template:
    source: str
    nodes: list[Any]

    def render(self, request: Request) -> Rendered:
        result = Rendered(body="")
        variables: dict[str, str] = {}
        self._run(self.nodes, request, variables, result)
        return result

    def _run(self, nodes: list[Any], request: Request, variables: dict[str, str], out: Rendered) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.body += node[1]
            elif kind == "ref":
                value = _value(node[1], request, variables, out)
                out.body += node[1].text if value is None else value
            elif kind == "set":
                value = _evaluate(node[2], request, variables, out)
                if value is None:  # Velocity 1.7: a null right-hand side leaves the target unchanged
                    continue
                target: Ref = node[1]
                if target.kind == "var":
                    variables[target.name] = value
                elif target.name == "status":
                    out.status = int(value)
                else:
                    out.headers[target.name.removeprefix("header.")] = value
            else:  # if
                for condition, body in node[1]:
                    if _truthy(_evaluate(condition, request, variables, out)):
                        self._run(body, request, variables, out)
                        break
                else:
                    self._run(node[2], request, variables, out)


def compile_template(source: str) -> Template:
    """Parse a mapping template; TemplateError names what is not emulated."""
    parser = _Parser(source)
    nodes, _ = parser.block(())
    return Template(source, nodes)


def _value(ref: Ref, request: Request, variables: dict[str, str], out: Rendered) -> str | None:
    if ref.kind == "var":
        return variables.get(ref.name)
    if ref.kind == "override":
        if ref.name == "status":
            return None if out.status is None else str(out.status)
        return out.headers.get(ref.name.removeprefix("header."))
    sources = {"header": request.headers, "querystring": request.query, "path": request.path}
    if ref.param_kind is not None:
        return sources[ref.param_kind].get(ref.name)
    # $input.params("x"): path, then query string, then header (API Gateway's documented order)
    for kind in ("path", "querystring", "header"):
        if ref.name in sources[kind]:
            return sources[kind][ref.name]
    return ""


def _evaluate(expr: Any, request: Request, variables: dict[str, str], out: Rendered) -> Any:
    kind = expr[0]
    if kind == "str":
        return expr[1]
    if kind == "ref":
        return _value(expr[1], request, variables, out)
    if kind == "not":
        return not _truthy(_evaluate(expr[1], request, variables, out))
    if kind == "or":
        return _truthy(_evaluate(expr[1], request, variables, out)) or _truthy(
            _evaluate(expr[2], request, variables, out)
        )
    if kind == "and":
        return _truthy(_evaluate(expr[1], request, variables, out)) and _truthy(
            _evaluate(expr[2], request, variables, out)
        )
    left = _evaluate(expr[1], request, variables, out)
    right = _evaluate(expr[2], request, variables, out)
    return left == right if kind == "==" else left != right


def _truthy(value: Any) -> bool:
    # Velocity: null and false are false; any other value (even "") is true.
    return value is not None and value is not False
