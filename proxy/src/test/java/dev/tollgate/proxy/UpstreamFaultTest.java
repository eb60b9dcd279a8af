package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.ProxyFixture;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Each upstream fault gives the documented client-visible error, outcome and usage record. */
class UpstreamFaultTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String STREAM = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"fault please\"}],\"max_tokens\":50,\"stream\":true}";
    static ProxyFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = ProxyFixture.start(SimulatorConfig.defaults(),
                c -> c.withLimits(c.withDefaults().limits().withIdleTimeoutMillis(400)));
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    private static String id(HttpResponse<?> r) {
        return r.headers().firstValue("x-tollgate-request-id").orElseThrow();
    }

    private static String text(HttpResponse<byte[]> r) {
        return new String(r.body(), StandardCharsets.UTF_8);
    }

    private static void assertOpenAiError(String body) throws Exception {
        JsonNode err = JSON.readTree(body).get("error");
        assertTrue(err != null && err.get("message").isTextual() && err.has("type") && err.has("param")
                && err.has("code"), "OpenAI error shape: " + body);
    }

    @Test
    void statusBeforeTheStreamPassesThroughWithItsBody() throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", STREAM, "x-sim-fault", "status:503");
        assertEquals(503, r.statusCode());
        assertOpenAiError(text(r));
        UsageRecord rec = fx.record(id(r));
        assertEquals(Outcome.UPSTREAM_ERROR, rec.outcome());
        assertEquals(0, rec.completionTokens());
        assertEquals(503, rec.httpStatus());
    }

    @Test
    void errorEventMidStreamIsPassedOnAndWhatWasServedIsMeteredExactly() throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", STREAM, "x-sim-fault", "error-after:4");
        assertEquals(200, r.statusCode());
        String body = text(r);
        assertTrue(body.contains("data: {\"error\""), body);
        assertTrue(body.endsWith("data: [DONE]\n\n"));
        UsageRecord rec = fx.record(id(r));
        assertEquals(Outcome.STREAM_ERROR, rec.outcome());
        assertEquals(UsageSource.UPSTREAM, rec.usageSource(), "continuous usage gives the exact count");
        assertEquals(4, rec.completionTokens());
    }

    @Test
    void resetMidStreamEndsTheStreamWithAnErrorEvent() throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", STREAM, "x-sim-fault", "reset-after:3");
        assertEquals(200, r.statusCode());
        String body = text(r);
        assertTrue(body.contains("\"error\""), body);
        assertTrue(body.endsWith("data: [DONE]\n\n"), "the client gets a well-formed end");
        UsageRecord rec = fx.record(id(r));
        assertEquals(Outcome.STREAM_ERROR, rec.outcome());
        assertEquals(3, rec.completionTokens());
    }

    @Test
    void resetBeforeHeadersIsA502() throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", STREAM, "x-sim-fault",
                "reset-before-headers");
        assertEquals(502, r.statusCode());
        assertOpenAiError(text(r));
        assertEquals(Outcome.UPSTREAM_ERROR, fx.record(id(r)).outcome());
    }

    @Test
    void stalledStreamEndsAtTheIdleTimeout() throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", STREAM, "x-sim-fault", "stall-after:2");
        assertEquals(200, r.statusCode());
        assertTrue(text(r).contains("idle timeout"), text(r));
        UsageRecord rec = fx.record(id(r));
        assertEquals(Outcome.UPSTREAM_TIMEOUT, rec.outcome());
        assertEquals(2, rec.completionTokens());
    }

    @Test
    void upstreamThatNeverAnswersIsA504() throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", STREAM, "x-sim-fault",
                "stall-before-headers");
        assertEquals(504, r.statusCode());
        assertOpenAiError(text(r));
        assertEquals(Outcome.UPSTREAM_TIMEOUT, fx.record(id(r)).outcome());
    }

    @Test
    void unreachableUpstreamIsA502AndTheRequestGoesToAHealthyOne() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        try (ProxyFixture only = ProxyFixture.start(SimulatorConfig.defaults(), c -> c.withUpstreams(
                List.of(new UpstreamConfig("dead", "http://127.0.0.1:" + closedPort + "/v1", null, null, true, "w"))))) {
            HttpResponse<byte[]> r = only.post(only.proxyOrigin(), "/v1/chat/completions", STREAM);
            assertEquals(502, r.statusCode());
            assertOpenAiError(text(r));
            assertEquals(Outcome.UPSTREAM_UNREACHABLE, only.record(id(r)).outcome());
        }
        try (ProxyFixture both = ProxyFixture.start(SimulatorConfig.defaults(), c -> c)) {
            ProxyFixture withDead = both;
            // The dead upstream is listed first; the request must still be served by the live one.
            try (ProxyFixture fx2 = ProxyFixture.start(SimulatorConfig.defaults(), c -> c.withUpstreams(List.of(
                    new UpstreamConfig("dead", "http://127.0.0.1:" + closedPort + "/v1", null, null, true, "w"),
                    new UpstreamConfig("live", withDead.simulator.baseUrl(), null, null, true, "w"))))) {
                for (int i = 0; i < 4; i++) {
                    HttpResponse<byte[]> r = fx2.post(fx2.proxyOrigin(), "/v1/chat/completions", STREAM);
                    assertEquals(200, r.statusCode());
                    assertEquals("live", fx2.record(id(r)).upstream());
                }
            }
        }
    }
}
