# Weft sandbox runner for Python (Debian's python3, started as `python3 -I -S -B runner.py`).
# docs/sandbox.md "Job protocol" and "Code node API" describe what this file speaks and what user code
# sees.
#
# It announces itself with {"t":"ready"}, reads exactly ONE job frame from fd 0, runs it, sends
# {"t":"result"} or {"t":"error"}, waits for the host's {"t":"ack"}, says {"t":"done"} and exits;
# the host kills the whole sandbox afterwards anyway.
# Frames go to a private duplicate of the original fd 1; fd 1 itself is pointed at fd 2 before
# any user code loads, so print(), sys.stdout and os.write(1, ...) can never corrupt a frame.
# Only built-in modules are imported at start-up: `ast` and `json` would cost ~15 ms of imports
# (re, enum, contextlib, ...) at every cold start.
import _ast
import _json
import _thread
import builtins
import os
import sys

FRAME_FD = os.dup(1)  # non-inheritable: subprocesses of user code do not get it
os.dup2(2, 1)

LOG_CAP = 8192     # characters per log message
STACK_CAP = 4096   # characters of a user traceback kept in an error
CODE_FILE = "code.py"
NODE_FILE = "node.py"


# ---- JSON through the C accelerator -----------------------------------------------------------

def _not_serialisable(o):
    raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)


class _DecodeOptions:
    # What _json's scanner reads from a JSONDecoder: json.loads defaults, and no NaN/Infinity.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = {}

    @staticmethod
    def parse_constant(name):
        raise ValueError("%s is not JSON" % name)


_scan = _json.make_scanner(_DecodeOptions)


def _loads(data):
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        raise ValueError("malformed JSON") from None
    if text[end:].strip():
        raise ValueError("extra data after JSON")
    return value


def _dumps(value):
    # Compact, UTF-8 (not \u-escaped), NaN/Infinity refused, cycles detected (as json.dumps).
    encode = _json.make_encoder({}, _not_serialisable, _json.encode_basestring, None, ":", ",", False, False, False)
    return "".join(encode(value, 0))


# ---- frames --------------------------------------------------------------------------------------

def _encode(frame):
    # Lone surrogates cannot travel as UTF-8: they become "?" rather than breaking the frame.
    return _dumps(frame).encode("utf-8", "replace") + b"\n"


_frame_lock = _thread.allocate_lock()  # threads the user's code starts may log too


def _write_frame(data):
    with _frame_lock:
        view = memoryview(data)
        while view:
            n = os.write(FRAME_FD, view)
            view = view[n:]


def _send(frame):
    _write_frame(_encode(frame))


class _LineReader:
    def __init__(self, fd):
        self.fd = fd
        self.buf = bytearray()
        self.scanned = 0

    def line(self):
        while True:
            i = self.buf.find(b"\n", self.scanned)
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 1]
                self.scanned = 0
                return out
            self.scanned = len(self.buf)
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise EOFError("the host closed the job pipe")
            self.buf += chunk


_stdin = _LineReader(0)
_finished = False


def _cap(s, cap):
    return s if len(s) <= cap else s[:cap] + " ... [%d characters cut]" % (len(s) - cap)


def _log(level, msg):
    if _finished:
        return
    _send({"t": "log", "level": level, "msg": _cap(msg, LOG_CAP)})


def _print(*args, sep=" ", end="\n", file=None, flush=False):
    if file is not None and file is not sys.stdout and file is not sys.stderr:
        return builtins.print(*args, sep=sep, end=end, file=file, flush=flush)
    try:
        msg = (" " if sep is None else sep).join(str(a) for a in args)
    except Exception:
        msg = "[unprintable log message]"
    _log("error" if file is sys.stderr else "info", msg)


# ---- host calls ----------------------------------------------------------------------------------

class WeftError(Exception):
    """A host call (weft.http, weft.credential, weft.call) was refused or failed."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


_next_call_id = 1
_call_lock = _thread.allocate_lock()  # one call at a time, whatever threads the code starts


def _call(op, args):
    global _next_call_id
    if not isinstance(op, str) or not op:
        raise TypeError("weft.call: op must be a non-empty string")
    with _call_lock:
        call_id = _next_call_id
        _next_call_id += 1
        try:
            data = _encode({"t": "call", "id": call_id, "op": op, "args": {} if args is None else args})
        except (TypeError, ValueError) as e:
            raise TypeError("weft.%s: the arguments are not JSON-serialisable: %s" % (op, e)) from None
        _write_frame(data)
        while True:
            frame = _loads(_stdin.line())
            if frame.get("t") == "reply" and frame.get("id") == call_id:
                break
    if frame.get("ok"):
        return frame.get("value")
    err = frame.get("error") or {}
    raise WeftError(str(err.get("code") or "host_call_failed"), str(err.get("message") or "the host call failed"))


class Weft:
    """What user code gets as `weft`: the node log and the host's services (all synchronous)."""

    Error = WeftError

    def __init__(self, context):
        self.context = context

    def log(self, *args, level="info"):
        _log(level if level in ("debug", "info", "warn", "error") else "info", " ".join(str(a) for a in args))

    def http(self, request):
        return _call("http_request", request)

    def credential(self, name):
        return _call("credential_get", {"name": name})

    def call(self, op, args=None):
        return _call(op, args)


# ---- errors --------------------------------------------------------------------------------------

_sources = {}


def _register_source(filename, code):
    _sources[filename] = code


def _show_sources():
    # Lets tracebacks print the user's lines (loaded only when an error is reported).
    import linecache
    for filename, code in _sources.items():
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)


def _error_info(exc, filename):
    import traceback
    _show_sources()
    name = type(exc).__name__
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        info = {"name": name, "message": str(exc.msg)}
        if exc.lineno:
            info["line"] = exc.lineno
            info["column"] = exc.offset or 1
        stack = "".join(traceback.format_exception_only(exc))
    else:
        try:
            message = str(exc)
        except Exception:
            message = "[unprintable error]"
        info = {"name": name, "message": _cap(message, LOG_CAP)}
        if isinstance(exc, WeftError):
            info["code"] = exc.code
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
        if frames:
            last = frames[-1]
            info["line"] = last.lineno
            colno = getattr(last, "colno", None)
            info["column"] = colno + 1 if colno is not None else 1
        stack = "Traceback (most recent call last):\n" if frames else ""
        stack += "".join(traceback.format_list(frames))
        stack += "".join(traceback.format_exception_only(exc))
    info["stack"] = _cap(stack, STACK_CAP)
    return info


def _memory_error_info(exc, filename):
    # Keep nothing of the failed frames alive: their objects are what filled the memory.
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    exc.__traceback__ = None
    info = {"name": "MemoryError", "message": "out of memory"}
    if line is not None:
        info["line"] = line
        info["column"] = 1
    return info


def _flush_text():
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass


def _goodbye():
    # The host acknowledges the answer once it has read the text written before it; "done" tells
    # it so (protocol: result|error -> ack -> done). Then nothing of this process is needed.
    global _finished
    _finished = True
    try:
        while _loads(_stdin.line()).get("t") != "ack":
            pass
        _send({"t": "done"})
    except Exception:
        pass
    os._exit(0)


def _finish(frame):
    _flush_text()
    try:
        _send(frame)
    except Exception:
        _send({"t": "error", "error": {"name": "InternalError", "message": "the runner could not send its answer"}})
    _goodbye()


def _fail(info):
    _finish({"t": "error", "error": info})


def _result(value, what):
    try:
        data = _encode({"t": "result", "value": value})
    except (TypeError, ValueError, RecursionError) as e:
        return {"name": "TypeError", "message": "%s is not JSON-serialisable: %s" % (what, e)}
    return data


def _finish_value(value, what):
    out = _result(value, what)
    if isinstance(out, dict):
        _fail(out)
    _flush_text()
    _write_frame(out)
    _goodbye()


# ---- the job -------------------------------------------------------------------------------------

def _items_of(value):
    if isinstance(value, list):
        return value
    if value is None:
        return []
    return [value]


def _fresh_globals(name):
    return {"__name__": name, "__builtins__": builtins, "print": _print}


_PyCF_ONLY_AST = 0x400


def _compile_body(code):
    # The code is the body of a function: parse it as a module (parsing accepts a top-level
    # `return`; only compiling refuses it), then hang its statements under a def. Line numbers
    # stay the user's own.
    tree = compile(code, CODE_FILE, "exec", _PyCF_ONLY_AST)
    where = {"lineno": 1, "col_offset": 0, "end_lineno": 1, "end_col_offset": 0}
    args = [_ast.arg(arg=a, annotation=None, type_comment=None, **where)
            for a in ("items", "input", "params", "context", "weft")]
    fn = _ast.FunctionDef(name="__weft_code__",
                          args=_ast.arguments(posonlyargs=[], args=args, vararg=None, kwonlyargs=[],
                                              kw_defaults=[], kwarg=None, defaults=[]),
                          body=tree.body or [_ast.Pass(**where)], decorator_list=[], returns=None,
                          type_comment=None, **where)
    module = _ast.Module(body=[fn], type_ignores=[])
    return compile(module, CODE_FILE, "exec")


def _guarded(filename, fn, *args):
    """Runs fn; on any exception sends the error frame (with the user's line) and exits."""
    try:
        return fn(*args)
    except MemoryError as e:
        info = _memory_error_info(e, filename)
        del e
        _fail(info)
    except SystemExit as e:
        _fail({"name": "SystemExit", "message": "the code called exit(%s)" % ("" if e.code is None else e.code)})
    except BaseException as e:  # noqa: B036 - everything the user's code raises is reported
        try:
            info = _error_info(e, filename)
        except BaseException:  # e.g. no memory left to format a traceback
            info = {"name": type(e).__name__, "message": "(the error could not be formatted)"}
        _fail(info)


def _run_code(job, input_value, params, context):
    code = job.get("code") if isinstance(job.get("code"), str) else ""
    _register_source(CODE_FILE, code)
    compiled = _guarded(CODE_FILE, _compile_body, code)
    scope = _fresh_globals("__weft_code__")
    _guarded(CODE_FILE, exec, compiled, scope)
    items = _items_of(input_value)
    value = _guarded(CODE_FILE, scope["__weft_code__"], items, input_value, params, context, Weft(context))
    _finish_value(items if value is None else value, "the code's return value")


def _load_node(code):
    _register_source(NODE_FILE, code)
    compiled = _guarded(NODE_FILE, compile, code, NODE_FILE, "exec")
    scope = _fresh_globals("__weft_node__")
    _guarded(NODE_FILE, exec, compiled, scope)
    decl = scope.get("NODE")
    if not isinstance(decl, dict):
        _fail({"name": "TypeError", "message": "a custom node file must define a module-level NODE = {...} dict"})
    execute = scope.get("execute")
    if not callable(execute):
        _fail({"name": "TypeError", "message": "a custom node file must define execute(items, params, weft)"})
    return decl, execute


def _run_job(job):
    mode = job.get("mode")
    input_value = job.get("input")
    params = job.get("params")
    params = {} if params is None else params
    context = job.get("context")
    context = {} if context is None else context
    if mode == "describe" or (mode == "run" and job.get("custom_node")):
        decl, execute = _load_node(job.get("code") if isinstance(job.get("code"), str) else "")
        if mode == "describe":
            _finish_value({k: v for k, v in decl.items() if k != "execute"}, "the node declaration")
        items = _items_of(input_value)
        value = _guarded(NODE_FILE, execute, items, params, Weft(context))
        _finish_value(items if value is None else value, "the node's return value")
    if mode != "run":
        _fail({"name": "ProtocolError", "message": "unknown job mode %r" % (mode,)})
    _run_code(job, input_value, params, context)


def _main():
    _send({"t": "ready"})
    try:
        line = _stdin.line()
    except EOFError:
        os._exit(0)  # the host went away before sending a job
    try:
        job = _loads(line)
    except ValueError:
        _fail({"name": "ProtocolError", "message": "the host sent a malformed job frame"})
    if not isinstance(job, dict) or job.get("t") != "job":
        _fail({"name": "ProtocolError", "message": "expected a job frame"})
    _run_job(job)


_main()
