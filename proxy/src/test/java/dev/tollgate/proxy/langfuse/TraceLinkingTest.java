package dev.tollgate.proxy.langfuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.tollgate.metering.Route;
import dev.tollgate.metering.TraceLink;
import dev.tollgate.proxy.MeteredRequest;
import dev.tollgate.proxy.TraceLinking;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How a request body's {@code metadata} and headers name a trace, on every metered route, without failing. */
class TraceLinkingTest {
    private static MeteredRequest parse(Route route, String json) throws Exception {
        return MeteredRequest.parse(route, json.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void everyMeteredRouteReadsLiteLlmMetadata() throws Exception {
        String meta = "\"metadata\":{\"existing_trace_id\":\"tr-1\",\"tags\":[\"a\",7,\"b\",null],\"session_id\":\"\"}";
        for (String body : new String[] {
                "{\"model\":\"m\",\"messages\":[]," + meta + "}",
                "{\"model\":\"m\",\"prompt\":\"p\"," + meta + "}",
                "{\"model\":\"m\",\"input\":\"x\"," + meta + "}"}) {
            Route route = body.contains("messages") ? Route.CHAT_COMPLETIONS
                    : body.contains("prompt") ? Route.COMPLETIONS : Route.EMBEDDINGS;
            TraceLink t = parse(route, body).trace();
            assertEquals("tr-1", t.traceId(), body);
            assertEquals(List.of("a", "b"), t.tags(), "only string tags");
            assertNull(t.sessionId(), "an empty string names nothing");
        }
        assertEquals("tr-2", parse(Route.RESPONSES, "{\"model\":\"m\",\"input\":\"x\",\"metadata\":{\"trace_id\":"
                + "\"tr-2\"}}").trace().traceId());
    }

    @Test
    void oddMetadataNamesNoTraceAndIsNeverAnError() throws Exception {
        for (String meta : new String[] {"null", "7", "[\"trace_id\"]", "{\"trace_id\":7}", "{\"trace_id\":\"\"}",
                "{\"trace_id\":{\"x\":1}}"}) {
            assertNull(parse(Route.CHAT_COMPLETIONS, "{\"model\":\"m\",\"messages\":[],\"metadata\":" + meta + "}")
                    .trace(), meta);
        }
    }

    @Test
    void aLongIdIsCutAndTheHeaderAndCreationFollowTheBody() throws Exception {
        String longId = "x".repeat(500);
        MeteredRequest withLong = parse(Route.CHAT_COMPLETIONS, "{\"model\":\"m\",\"messages\":[],\"metadata\":"
                + "{\"trace_id\":\"" + longId + "\"}}");
        assertEquals(TraceLink.MAX_LENGTH, withLong.trace().traceId().length());
        MeteredRequest none = parse(Route.CHAT_COMPLETIONS, "{\"model\":\"m\",\"messages\":[]}");
        HttpHeaders headers = new DefaultHttpHeaders().add(TraceLinking.HEADER, "hdr-1");
        assertEquals("hdr-1", TraceLinking.CLIENT_NAMED.link(none, headers, "req-9").traceId());
        assertNull(TraceLinking.CLIENT_NAMED.link(none, new DefaultHttpHeaders(), "req-9"));
        assertEquals("req-9", new TraceLinking(true).link(none, new DefaultHttpHeaders(), "req-9").traceId());
        assertNull(MeteredRequest.perRequest("/v1/audio/transcriptions").trace());
    }
}
