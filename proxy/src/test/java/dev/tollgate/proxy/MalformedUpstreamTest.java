package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.ProxyFixture;
import dev.tollgate.testing.ScriptedUpstream;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Upstreams that break the SSE contract: garbage, invalid UTF-8, an oversized event, a stream that never ends.
 * The client gets the upstream's bytes (or a well-formed error end), the record says what happened, nothing leaks.
 */
class MalformedUpstreamTest {
    private static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}";

    private static ProxyFixture proxyTo(ScriptedUpstream up) throws Exception {
        return ProxyFixture.start(SimulatorConfig.defaults(), c -> c
                .withUpstreams(List.of(new UpstreamConfig("scripted", up.baseUrl(), null, null, false, "w")))
                .withLimits(c.withDefaults().limits().withIdleTimeoutMillis(300)));
    }

    private static UsageRecord send(ProxyFixture fx, byte[] expectBody) throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", CHAT);
        assertEquals(200, r.statusCode());
        if (expectBody != null) {
            assertArrayEquals(expectBody, r.body(), "the upstream's bytes, unchanged");
        }
        return fx.record(r.headers().firstValue("x-tollgate-request-id").orElseThrow());
    }

    @Test
    void garbageAndInvalidUtf8PassThroughAndAreEstimated() throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" ok\"}}]}\n\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes("data: {garbage\n\nnot sse at all\n\n".getBytes(StandardCharsets.UTF_8));
        b.writeBytes(new byte[] {'d', 'a', 't', 'a', ':', ' ', (byte) 0xff, (byte) 0xfe, (byte) 0xc3, '\n', '\n'});
        b.writeBytes("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\u00ff\u00e9\"}}]}\n\ndata: [DONE]\n\n"
                .getBytes(StandardCharsets.UTF_8));
        byte[] body = b.toByteArray();
        try (ScriptedUpstream up = new ScriptedUpstream(body, true); ProxyFixture fx = proxyTo(up)) {
            UsageRecord r = send(fx, body);
            assertEquals(UsageSource.ESTIMATED, r.usageSource());
            assertTrue(r.completionTokens() >= 2);
            assertEquals(Outcome.COMPLETED, r.outcome());
        }
    }

    @Test
    void oversizedEventIsPassedOnWithoutBufferingItForMetering() throws Exception {
        String big = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + "x".repeat(3 << 20) + "\"}}]}\n\n";
        byte[] body = (big + "data: [DONE]\n\n").getBytes(StandardCharsets.UTF_8);
        try (ScriptedUpstream up = new ScriptedUpstream(body, true); ProxyFixture fx = proxyTo(up)) {
            UsageRecord r = send(fx, body);
            assertEquals(Outcome.COMPLETED, r.outcome());
        }
    }

    @Test
    void upstreamThatNeverEndsIsCutAtTheIdleTimeout() throws Exception {
        byte[] body = ("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" one\"}}]}\n\n"
                + "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" two\"}}]}\n\n").getBytes(StandardCharsets.UTF_8);
        try (ScriptedUpstream up = new ScriptedUpstream(body, false); ProxyFixture fx = proxyTo(up)) {
            HttpResponse<byte[]> resp = fx.post(fx.proxyOrigin(), "/v1/chat/completions", CHAT);
            String text = new String(resp.body(), StandardCharsets.UTF_8);
            assertTrue(text.startsWith(new String(body, StandardCharsets.UTF_8)), text);
            assertTrue(text.contains("idle timeout") && text.endsWith("data: [DONE]\n\n"), text);
            UsageRecord r = fx.record(resp.headers().firstValue("x-tollgate-request-id").orElseThrow());
            assertEquals(Outcome.UPSTREAM_TIMEOUT, r.outcome());
            assertEquals(2, r.completionTokens());
        }
    }
}
