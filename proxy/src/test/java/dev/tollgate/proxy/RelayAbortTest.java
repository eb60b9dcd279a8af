package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.ProxyFixture;
import dev.tollgate.testing.ScriptedUpstream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Every way an exchange can end while the SSE relay holds the unfinished part of an event: the client leaves,
 * the upstream goes quiet, the upstream closes. The held bytes are freed (PARANOID leak detection fails the class
 * otherwise, and the held-bytes gauge returns to 0), the client never sees half an event, and the record says
 * what happened.
 */
class RelayAbortTest {
    private static final String EVENT = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" one\"}}]}\n\n";
    private static final String PARTIAL = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" tw";
    private static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}";

    private static ProxyFixture proxyTo(ScriptedUpstream up) throws Exception {
        return ProxyFixture.start(SimulatorConfig.defaults(), c -> c
                .withUpstreams(List.of(new UpstreamConfig("scripted", up.baseUrl(), null, null, false, "w")))
                .withLimits(c.withDefaults().limits().withIdleTimeoutMillis(500)));
    }

    private static void awaitNothingHeld(ProxyFixture fx) {
        Await.until(() -> SlowClientBackPressureTest.heldBytes(fx) == 0, Duration.ofSeconds(5),
                "the proxy to hold nothing");
        Await.until(() -> fx.node.upstreams().all().get(0).outstanding() == 0, Duration.ofSeconds(5),
                "the upstream request to end");
    }

    @Test
    void clientLeavesWhileAnEventIsHalfThere() throws Exception {
        byte[] body = (EVENT + PARTIAL).getBytes(StandardCharsets.UTF_8);
        try (ScriptedUpstream up = new ScriptedUpstream(body, false); ProxyFixture fx = proxyTo(up)) {
            String id;
            try (Socket s = new Socket("127.0.0.1", fx.node.proxyPort())) {
                OutputStream out = s.getOutputStream();
                out.write(("POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
                        + "content-length: " + CHAT.length() + "\r\n\r\n" + CHAT).getBytes(StandardCharsets.US_ASCII));
                out.flush();
                InputStream in = s.getInputStream();
                ByteArrayOutputStream got = new ByteArrayOutputStream();
                while (!got.toString(StandardCharsets.UTF_8).contains(" one")) {
                    int b = in.read();
                    assertTrue(b >= 0, "the complete event arrives");
                    got.write(b);
                }
                String head = got.toString(StandardCharsets.UTF_8);
                int i = head.toLowerCase().indexOf("x-tollgate-request-id:");
                id = head.substring(i + 22, head.indexOf('\r', i)).trim();
                Await.until(() -> SlowClientBackPressureTest.heldBytes(fx) >= PARTIAL.length(), Duration.ofSeconds(5),
                        "the relay to hold the partial event");
            }
            UsageRecord r = fx.record(id);
            assertEquals(Outcome.CLIENT_DISCONNECTED, r.outcome());
            assertEquals(1, r.completionTokens());
            awaitNothingHeld(fx);
        }
    }

    @Test
    void upstreamGoesQuietWhileAnEventIsHalfThere() throws Exception {
        byte[] body = (EVENT + PARTIAL).getBytes(StandardCharsets.UTF_8);
        try (ScriptedUpstream up = new ScriptedUpstream(body, false); ProxyFixture fx = proxyTo(up)) {
            HttpResponse<byte[]> resp = fx.post(fx.proxyOrigin(), "/v1/chat/completions", CHAT);
            String text = new String(resp.body(), StandardCharsets.UTF_8);
            assertTrue(text.startsWith(EVENT), text);
            assertTrue(!text.contains(" tw"), "half an event is never sent: " + text);
            assertTrue(text.contains("idle timeout") && text.endsWith("data: [DONE]\n\n"), text);
            UsageRecord r = fx.record(resp.headers().firstValue("x-tollgate-request-id").orElseThrow());
            assertEquals(Outcome.UPSTREAM_TIMEOUT, r.outcome());
            awaitNothingHeld(fx);
        }
    }

    @Test
    void upstreamClosesWhileAnEventIsHalfThere() throws Exception {
        byte[] body = (EVENT + PARTIAL).getBytes(StandardCharsets.UTF_8);
        try (ScriptedUpstream up = new ScriptedUpstream(body, false); ProxyFixture fx = proxyTo(up)) {
            HttpRequest req = HttpRequest.newBuilder(URI.create(fx.proxyOrigin() + "/v1/chat/completions"))
                    .header("content-type", "application/json").POST(HttpRequest.BodyPublishers.ofString(CHAT)).build();
            CompletableFuture<HttpResponse<byte[]>> pending = fx.http.sendAsync(req,
                    HttpResponse.BodyHandlers.ofByteArray());
            Await.until(() -> SlowClientBackPressureTest.heldBytes(fx) >= PARTIAL.length(), Duration.ofSeconds(5),
                    "the relay to hold the partial event");
            up.close();
            HttpResponse<byte[]> resp = pending.get(10, TimeUnit.SECONDS);
            String text = new String(resp.body(), StandardCharsets.UTF_8);
            assertTrue(text.startsWith(EVENT), text);
            assertTrue(!text.contains(" tw"), "half an event is never sent: " + text);
            assertTrue(text.endsWith("data: [DONE]\n\n"), text);
            UsageRecord r = fx.record(resp.headers().firstValue("x-tollgate-request-id").orElseThrow());
            assertEquals(Outcome.STREAM_ERROR, r.outcome());
            awaitNothingHeld(fx);
        }
    }
}
