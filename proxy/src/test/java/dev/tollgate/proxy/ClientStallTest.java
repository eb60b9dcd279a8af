package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.ProxyFixture;
import dev.tollgate.testing.RawSseUpstream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A client that stops reading while the upstream still streams: at the client idle timeout the proxy closes
 * both sides, frees the upstream slot and meters what was served as {@code client_stalled}.
 */
class ClientStallTest {
    private static final long EVENTS = 400_000; // ~64 MiB: far more than any buffer between the two

    @Test
    void aClientThatStopsReadingIsCutAtItsIdleTimeoutAndWhatWasServedIsMetered() throws Exception {
        try (RawSseUpstream upstream = new RawSseUpstream(EVENTS);
             ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(), c -> c
                     .withUpstreams(List.of(new UpstreamConfig("raw", upstream.baseUrl(), null, null, true, "w")))
                     .withLimits(new ProxyConfig.Limits(null, null, null, null, 500, null, null, null, null, null,
                             null)));
             Socket client = new Socket()) {
            client.setReceiveBufferSize(16 * 1024);
            client.connect(new InetSocketAddress("127.0.0.1", fx.node.proxyPort()));
            String body = "{\"model\":\"raw\",\"messages\":[{\"role\":\"user\",\"content\":\"go\"}],\"stream\":true}";
            postChat(client.getOutputStream(), body);
            InputStream in = client.getInputStream();
            String head = readHead(in);
            String id = head.lines().filter(l -> l.toLowerCase().startsWith("x-tollgate-request-id:"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElseThrow();

            // The client now reads nothing.
            UsageRecord r = fx.record(id);
            assertEquals(Outcome.CLIENT_STALLED, r.outcome());
            Await.until(upstream::cut, Duration.ofSeconds(10), "the proxy to close the upstream connection");
            Await.until(() -> fx.node.upstreams().all().get(0).outstanding() == 0, Duration.ofSeconds(5),
                    "the upstream's in-flight count to return to 0");
            assertTrue(!upstream.finished());

            // What reached the client before the cut is still readable, then the connection ends.
            byte[] rest = in.readAllBytes();
            int received = count(rest, " token");
            long pulled = upstream.written() / RawSseUpstream.EVENT.length;
            assertEquals(UsageSource.ESTIMATED, r.usageSource(), "this upstream reports no usage");
            assertTrue(received > 0, "the client got part of the stream");
            assertTrue(r.completionTokens() >= received && r.completionTokens() <= pulled,
                    "metered " + r.completionTokens() + " tokens; the client got " + received + ", the upstream wrote "
                            + pulled);
        }
    }

    @Test
    void anIdleKeepAliveConnectionIsClosedAtTheClientIdleTimeoutAfterItsResponse() throws Exception {
        try (ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(), c -> c
                     .withLimits(new ProxyConfig.Limits(null, null, null, null, 300, null, null, null, null, null,
                             null)));
             Socket client = new Socket()) {
            client.connect(new InetSocketAddress("127.0.0.1", fx.node.proxyPort()));
            client.setSoTimeout(10_000);
            String body = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                    + "\"max_tokens\":4}";
            postChat(client.getOutputStream(), body);
            InputStream in = client.getInputStream();
            String head = readHead(in);
            assertTrue(head.startsWith("HTTP/1.1 200"), head);
            int length = head.lines().filter(l -> l.toLowerCase().startsWith("content-length:"))
                    .map(l -> Integer.parseInt(l.substring(l.indexOf(':') + 1).trim())).findFirst().orElseThrow();
            String response = new String(in.readNBytes(length), StandardCharsets.UTF_8);
            assertTrue(response.contains("\"usage\""), response);

            // The client now sends nothing and has read everything: the proxy closes the connection (end of stream
            // well before the 10 s read timeout, which would throw).
            assertEquals(-1, in.read());
        }
    }

    private static String readHead(InputStream in) throws Exception {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int state = 0;
        while (state < 4) {
            int b = in.read();
            if (b < 0) {
                throw new AssertionError("connection closed before the response head");
            }
            head.write(b);
            state = (b == '\r' && (state == 0 || state == 2)) || (b == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
        }
        return head.toString(StandardCharsets.US_ASCII);
    }

    private static int count(byte[] hay, String needle) {
        String s = new String(hay, StandardCharsets.ISO_8859_1);
        int n = 0;
        for (int i = s.indexOf(needle); i >= 0; i = s.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }

    private static void postChat(OutputStream out, String body) throws IOException {
        out.write(("POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
                + "content-length: " + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }
}
