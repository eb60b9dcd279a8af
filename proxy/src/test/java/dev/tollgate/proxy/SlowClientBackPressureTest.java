package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.sse.SseEventParser;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.RawHttp;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.ProxyFixture;
import dev.tollgate.testing.RawSseUpstream;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * An upstream writes 64 MiB as fast as it can while the client reads nothing. What a user cares about: the bytes
 * the proxy holds (pulled from the upstream, not yet written to the client socket: the
 * {@code tollgate_relay_held_bytes} gauge on /metrics) stay under the client write buffer's high-water mark plus
 * one upstream read plus one bounded SSE event, however much the upstream has to send; and once the client reads
 * again every byte arrives, in order.
 */
class SlowClientBackPressureTest {
    private static final long EVENTS = 400_000; // ~64 MiB of SSE
    private static final long HIGH_WATER_MARK = ProxyConfig.Limits.defaults().writeBufferHighBytes();
    private static final long ONE_UPSTREAM_READ = 64 * 1024; // Netty's largest socket read buffer
    private static final long BOUND = HIGH_WATER_MARK + ONE_UPSTREAM_READ + SseEventParser.DEFAULT_MAX_EVENT_BYTES;

    @ParameterizedTest(name = "client asks for usage: {0}")
    @ValueSource(booleans = {false, true})
    void whatTheProxyHoldsForAStalledClientIsBounded(boolean clientAsksForUsage) throws Exception {
        try (RawSseUpstream upstream = new RawSseUpstream(EVENTS);
             ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(),
                     c -> c.withUpstreams(List.of(new UpstreamConfig("raw", upstream.baseUrl(), null, null, true,
                             "w"))));
             Socket client = new Socket()) {
            client.setReceiveBufferSize(16 * 1024);
            client.connect(new InetSocketAddress("127.0.0.1", fx.node.proxyPort()));
            String options = clientAsksForUsage
                    ? ",\"stream_options\":{\"include_usage\":true,\"continuous_usage_stats\":true}" : "";
            String body = "{\"model\":\"raw\",\"messages\":[{\"role\":\"user\",\"content\":\"go\"}],\"stream\":true"
                    + options + "}";
            OutputStream out = client.getOutputStream();
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
                    + "connection: close\r\ncontent-length: " + body.length() + "\r\n\r\n" + body)
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();

            // The client reads nothing; watch what the proxy holds until the upstream can write no more.
            long[] last = {-1};
            long[] maxHeld = {0};
            int[] stable = {0};
            Await.until(() -> {
                maxHeld[0] = Math.max(maxHeld[0], heldBytes(fx));
                long w = upstream.written();
                stable[0] = w == last[0] ? stable[0] + 1 : 0;
                last[0] = w;
                return stable[0] >= 100;
            }, Duration.ofSeconds(60), "the upstream to block on a full pipe");
            long heldWhileStalled = heldBytes(fx);
            assertTrue(heldWhileStalled > 0, "the stalled response is held, and the gauge shows it");
            assertTrue(maxHeld[0] <= BOUND, "the proxy held " + maxHeld[0] + " bytes at most; bound " + BOUND);
            assertFalse(upstream.finished(), "the upstream is blocked, not done");

            InputStream in = new BufferedInputStream(client.getInputStream());
            long received = readChunkedBodyInOrder(in);
            assertEquals(upstream.bodyBytes(), received, "every byte arrives once the client reads");
            Await.until(() -> heldBytes(fx) == 0, Duration.ofSeconds(5), "the proxy to hold nothing afterwards");
        }
    }

    /** The gauge as a monitoring system would scrape it. */
    static long heldBytes(ProxyFixture fx) {
        try {
            String metrics = fx.get("http://127.0.0.1:" + fx.node.adminPort() + "/metrics").body();
            for (String line : metrics.split("\n")) {
                if (line.startsWith("tollgate_relay_held_bytes ")) {
                    return Long.parseLong(line.substring(line.indexOf(' ') + 1).trim());
                }
            }
            throw new AssertionError("no tollgate_relay_held_bytes in /metrics");
        } catch (IOException | InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * Reads a chunked response to the end, checking that its body is the upstream's events in order followed by
     * {@code data: [DONE]}; returns the body length.
     */
    private static long readChunkedBodyInOrder(InputStream in) throws IOException {
        String line;
        String status = null;
        while (!(line = RawHttp.readLine(in)).isEmpty()) {
            if (status == null) {
                status = line;
            }
        }
        assertEquals("HTTP/1.1 200 OK", status);
        byte[] event = RawSseUpstream.EVENT;
        byte[] done = "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);
        long events = 0;
        long pos = 0;
        int inEvent = 0;
        int inDone = 0;
        while (true) {
            int size = Integer.parseInt(RawHttp.readLine(in).trim(), 16);
            if (size == 0) {
                RawHttp.readLine(in);
                assertEquals(EVENTS, events, "events before [DONE]");
                assertEquals(done.length, inDone, "the stream ends with data: [DONE]");
                return pos;
            }
            byte[] chunk = in.readNBytes(size);
            for (byte b : chunk) {
                if (events < EVENTS) {
                    if (b != event[inEvent]) {
                        throw new AssertionError("byte " + pos + " differs from the upstream's");
                    }
                    if (++inEvent == event.length) {
                        inEvent = 0;
                        events++;
                    }
                } else if (inDone >= done.length || b != done[inDone++]) {
                    throw new AssertionError("byte " + pos + " after the last event is not data: [DONE]");
                }
                pos++;
            }
            RawHttp.readLine(in);
        }
    }
}
