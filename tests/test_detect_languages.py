"""Stack traces from the JavaScript, Java, Go and .NET SDKs: the app's frame, the frames shown, the label.

The fixtures in tests/fixtures/stacks/ are real traces (see the README there for
how each was captured); the tables below say what a person reading the alert
should see for each.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource

from otel_discord.bridge.decode import decode_traces
from otel_discord.config import resolve
from otel_discord.detect import SpanDetector
from otel_discord.detect import frames as python_frames
from otel_discord.detect.languages import detect
from otel_discord.detect.stack import describe_frame, language_of, read_traceback, stack_language

FIXTURES = Path(__file__).parent / "fixtures" / "stacks"
WEBHOOK = "https://discord.com/api/webhooks/123/tok"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _no_app_packages():
    """Each test starts without OTEL_EXPORTER_DISCORD_APP_PACKAGES (the classifier is process-wide)."""
    before = python_frames.classifier().app_packages
    python_frames.use_app_packages(())
    yield
    python_frames.use_app_packages(before)


# name, language, code-block label, the Location a person sees
REAL_TRACES = [
    ("node-express.txt", "nodejs", "js", "node-app/lib/orders.js:10 in readOrder"),
    ("java-reflection-cause.txt", "java", "java", "OrderService.java:20 in com.example.shop.OrderService.loadOrder"),
    ("go-recorderror.txt", "go", "go", "shop/orders/orders.go:20 in example.com/shop/orders.Load"),
    ("go-panic.txt", "go", "go", "tmp/gopanic/main.go:9 in main.quantity"),
    (
        "dotnet-aspnetcore.txt",
        "dotnet",
        "cs",
        "3.x/Controllers/WeatherForecastController.cs:34 in WebApiSample.Controllers.WeatherForecastController.Get",
    ),
    (
        "dotnet-inner-exception.txt",
        "dotnet",
        "cs",
        "ICSharpCode.Decompiler/Ast/AstMethodBodyBuilder.cs:92 in ICSharpCode.Decompiler.Ast.AstMethodBodyBuilder"
        ".CreateMethodBody",
    ),
]


class TestRealTraces:
    @pytest.mark.parametrize(("name", "language", "label", "location"), REAL_TRACES)
    def test_location_is_the_apps_innermost_frame(self, name, language, label, location):
        """Each SDK's trace names the app's own frame, not the runtime's or a framework's."""
        text = fixture(name)
        frame, _ = read_traceback(text)
        assert frame is not None
        assert describe_frame(frame) == location
        assert language_of(text) == language
        assert stack_language(text) == label

    @pytest.mark.parametrize(("name", "language", "label", "location"), REAL_TRACES)
    def test_code_block_starts_with_the_exception_and_ends_near_the_app(self, name, language, label, location):
        """The code block opens with what was thrown and keeps the app's frames; long library runs are folded."""
        text = fixture(name)
        _, shown = read_traceback(text)
        assert shown.splitlines()[0] == next(line for line in text.splitlines() if line.strip())
        assert len(shown) <= len(text) and len(shown.splitlines()) <= 25
        frame, _ = read_traceback(text)
        assert frame is not None and str(frame.line) in shown and frame.function.rsplit(".", 1)[-1] in shown

    def test_node_frames_shown_are_the_apps(self):
        """The Express trace shows the app's three frames and the router frame that called them, then a count."""
        _, shown = read_traceback(fixture("node-express.txt"))
        lines = shown.splitlines()
        assert lines[0] == "Error: order 42 not found"
        assert [line.split(" (")[0].strip() for line in lines[1:3]] == ["at readOrder", "at loadOrder"]
        assert lines[3].strip().startswith("at /") and lines[3].endswith("node-app/app.js:16:12")
        assert "node_modules/router/lib/layer.js" in lines[4]
        assert lines[5] == "    ... 6 more frames"
        assert "AsyncLocalStorage" not in shown

    def test_java_keeps_the_root_cause(self):
        """A Java trace keeps its "Caused by" line and the cause's app frames, with JDK runs folded."""
        _, shown = read_traceback(fixture("java-reflection-cause.txt"))
        assert 'Caused by: java.lang.NumberFormatException: For input string: "x42"' in shown
        assert "OrderService.parseQuantity(OrderService.java:9)" in shown
        assert "\t... 4 library frames" in shown
        assert "ReferencePipeline" not in shown

    def test_go_drops_the_sdks_recording_frames(self):
        """RecordError's own frames (how the error was recorded) are not shown; the app's handler is."""
        _, shown = read_traceback(fixture("go-recorderror.txt"))
        assert "recordStackTrace" not in shown and "RecordError" not in shown
        assert shown.splitlines()[:2] == ["goroutine 18 [running]:", shown.splitlines()[1]]
        assert shown.splitlines()[1].startswith("example.com/shop/orders.Load(")
        assert "main.main.func1" in shown

    def test_dotnet_inner_exception_header_is_kept(self):
        """.NET's "---> Inner: message" header stays; the outer exception's frames are searched first."""
        _, shown = read_traceback(fixture("dotnet-inner-exception.txt"))
        assert (
            shown.splitlines()[1] == " ---> System.Exception: Basic block has to end with unconditional control flow. "
        )
        assert "AstMethodBodyBuilder.cs:line 92" in shown and "ILAstOptimizer.cs:line 1852" not in shown


class TestLibraryFrames:
    """Hand-written frames for the libraries the real traces above do not contain."""

    @pytest.mark.parametrize(
        ("text", "location"),
        [
            (  # Spring and Tomcat around a controller
                "org.springframework.web.util.NestedServletException: Request processing failed\n"
                "\tat org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)\n"
                "\tat javax.servlet.http.HttpServlet.service(HttpServlet.java:750)\n"
                "Caused by: java.lang.IllegalStateException: no stock\n"
                "\tat org.hibernate.internal.SessionImpl.find(SessionImpl.java:42)\n"
                "\tat shop.web.StockController.get(StockController.kt:31)\n"
                "\tat jdk.internal.reflect.GeneratedMethodAccessor1.invoke(Unknown Source)\n"
                "\t... 40 more\n",
                "StockController.kt:31 in shop.web.StockController.get",
            ),
            (  # a CGLIB proxy frame is glue, the real method is the app's
                "java.lang.RuntimeException: x\n"
                "\tat shop.Billing$$SpringCGLIB$$0.charge(<generated>)\n"
                "\tat shop.Billing.charge(Billing.java:7)\n",
                "Billing.java:7 in shop.Billing.charge",
            ),
            (  # Node internals and node_modules
                "TypeError: Cannot read properties of undefined (reading 'id')\n"
                "    at Object.parse (/srv/api/node_modules/qs/lib/parse.js:10:3)\n"
                "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)\n"
                "    at async createOrder (file:///srv/api/src/orders.mjs:21:7)\n",
                "api/src/orders.mjs:21 in async createOrder",
            ),
            (  # Go module cache and the standard library
                "goroutine 7 [running]:\n"
                "github.com/jackc/pgx/v5.(*Conn).Query(0xc000, {0x1, 0x2})\n"
                "\t/home/u/go/pkg/mod/github.com/jackc/pgx/v5@v5.5.0/conn.go:640 +0x1\n"
                "github.com/acme/shop/store.(*Orders).Get(0xc0001)\n"
                "\t/src/shop/store/orders.go:44 +0x2\n"
                "net/http.HandlerFunc.ServeHTTP(0x0, {0x0, 0x0}, 0x0)\n"
                "\t/usr/local/go/src/net/http/server.go:2136 +0x29\n",
                "shop/store/orders.go:44 in github.com/acme/shop/store.(*Orders).Get",
            ),
            (  # System.*, Microsoft.* and an app frame without a line (no pdb)
                "System.InvalidOperationException: Sequence contains no elements\n"
                "   at System.Linq.ThrowHelper.ThrowNoElementsException()\n"
                "   at Microsoft.EntityFrameworkCore.Query.Internal.QueryCompiler.Execute[TResult](Expression query)\n"
                "   at Acme.Shop.Orders.OrderService.First()\n"
                "   at Acme.Shop.Orders.OrdersController.Get(Int32 id) in /src/Orders/OrdersController.cs:line 20\n",
                "Acme.Shop.Orders.OrderService.First",
            ),
        ],
    )
    def test_library_frames_are_skipped(self, text, location):
        """Framework, runtime and dependency frames never become the Location."""
        frame, _ = read_traceback(text)
        assert frame is not None and describe_frame(frame) == location

    def test_app_packages_setting_overrides_the_heuristic(self):
        """A package named in OTEL_EXPORTER_DISCORD_APP_PACKAGES is the app even where it looks like a library."""
        text = (
            "java.lang.IllegalStateException: x\n"
            "\tat org.apache.commons.Lang.fail(Lang.java:1)\n"
            "\tat com.google.shop.Orders.get(Orders.java:9)\n"
            "\tat com.acme.Tool.run(Tool.java:3)\n"
        )
        frame, _ = read_traceback(text)
        assert frame is not None and frame.function == "com.acme.Tool.run"
        python_frames.use_app_packages(["com.google.shop"])
        frame, _ = read_traceback(text)
        assert frame is not None and frame.function == "com.google.shop.Orders.get"


class TestLanguage:
    @pytest.mark.parametrize(
        ("text", "resource", "label"),
        [
            ("Error: boom\n    at f (/a.js:1:2)\n", None, "js"),
            ("Error: boom\n    at f (/a.js:1:2)\n", {"telemetry.sdk.language": "java"}, "js"),  # the text wins
            ("boom", {"telemetry.sdk.language": "nodejs"}, "js"),  # no shape: the SDK decides
            ("boom", {"telemetry.sdk.language": "dotnet"}, "cs"),
            ("boom", {"telemetry.sdk.language": "webjs"}, "js"),
            ("boom", {"telemetry.sdk.language": "ruby"}, "py"),
            ("boom", None, "py"),
            ('Traceback (most recent call last):\n  File "/a.py", line 1, in f\nE: x', None, "py"),
        ],
    )
    def test_label_table(self, text, resource, label):
        """The code block's label follows the text's shape, then the resource's telemetry.sdk.language."""
        assert stack_language(text, Resource.create(resource) if resource else None) == label

    def test_ambiguous_at_lines(self):
        """.NET frames with empty or typed parameter lists are not mistaken for Java or JavaScript."""
        assert detect(["System.Exception: x", "   at A.B.C()", "   at A.B.D(String name, Int32 id)"]) == "dotnet"
        assert detect(["java.lang.Error: x", "\tat a.b.C.d(Native Method)"]) == "java"
        assert detect(["plain text", "nothing here"]) is None


class TestThroughTheSpanDetector:
    def test_node_trace_from_the_js_sdk(self):
        """The OTLP/JSON the JS SDK sent for the Express app gives Location, Route and a js code block."""
        spans = decode_traces((FIXTURES / "node-express.otlp.json").read_bytes(), "application/json")
        notices = SpanDetector(resolve(webhook_url=WEBHOOK, environ={}))(spans)
        (notice,) = notices
        fields = {field.name: field.value for field in notice.fields}
        assert fields["Location"] == "node-app/lib/orders.js:10 in readOrder"
        assert fields["Route"] == "GET /orders/:id"
        assert notice.code_language == "js"
        assert notice.code is not None and notice.code.startswith("Error: order 42 not found\n    at readOrder (")
        assert notice.title.startswith("Error") and "order 42 not found" in notice.title
