package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.ProxyFixture;
import dev.tollgate.testing.RawSseUpstream;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
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
 * An upstream writes tens of MiB as fast as it can while the client reads nothing: the proxy pulls only a
 * bounded amount (its write-buffer high-water mark plus what the kernel's socket buffers hold), and once the
 * client reads again every byte arrives.
 */
class SlowClientBackPressureTest {
    private static final long EVENTS = 400_000; // ~64 MiB of SSE

    @ParameterizedTest(name = "client asks for usage: {0}")
    @ValueSource(booleans = {false, true})
    void stalledClientBoundsWhatTheProxyPulls(boolean clientAsksForUsage) throws Exception {
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

            // The client reads nothing; wait until the upstream can write no more.
            long[] last = {-1};
            int[] stable = {0};
            Await.until(() -> {
                long w = upstream.written();
                stable[0] = w == last[0] ? stable[0] + 1 : 0;
                last[0] = w;
                return stable[0] >= 500;
            }, Duration.ofSeconds(30), "the upstream to block on a full pipe");
            long pulledWhileStalled = upstream.written();
            assertTrue(pulledWhileStalled < 24L * 1024 * 1024,
                    "proxy pulled " + pulledWhileStalled + " bytes of " + upstream.bodyBytes() + " while the client was stalled");
            assertTrue(!upstream.finished());

            byte[] received = readChunkedBody(new BufferedInputStream(client.getInputStream()));
            assertEquals(upstream.bodyBytes(), received.length, "every byte arrives once the client reads");
            String tail = new String(received, received.length - 14, 14, StandardCharsets.US_ASCII);
            assertEquals("data: [DONE]\n\n", tail);
        }
    }

    /** Reads a response with chunked body to the end; returns the body. */
    static byte[] readChunkedBody(InputStream in) throws IOException {
        String line;
        while (!(line = readLine(in)).isEmpty()) {
            if (line.startsWith("HTTP/1.1")) {
                assertEquals("HTTP/1.1 200 OK", line);
            }
        }
        ByteArrayOutputStream body = new ByteArrayOutputStream(64 * 1024 * 1024);
        while (true) {
            int size = Integer.parseInt(readLine(in).trim(), 16);
            if (size == 0) {
                readLine(in);
                return body.toByteArray();
            }
            body.write(in.readNBytes(size));
            readLine(in);
        }
    }

    private static String readLine(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        int b;
        while ((b = in.read()) >= 0 && b != '\n') {
            if (b != '\r') {
                sb.append((char) b);
            }
        }
        if (b < 0 && sb.length() == 0) {
            throw new IOException("connection closed");
        }
        return sb.toString();
    }
}
