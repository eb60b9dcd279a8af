package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.testing.RawHttp;
import dev.tollgate.testing.ProxyFixture;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * HTTP/1.1 pipelining and HTTP/1.0 clients, on a raw socket: pipelined requests are answered in order (more of
 * them than the proxy queues before it pauses reading), and an HTTP/1.0 client gets a body it can read without
 * chunked encoding. Each body is compared with what the simulator answers to the same request directly.
 */
class PipeliningTest {
    static ProxyFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = ProxyFixture.start();
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    private static String chat(int maxTokens, boolean stream) {
        return "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"request " + maxTokens
                + "\"}],\"max_tokens\":" + maxTokens + ",\"stream\":" + stream + "}";
    }

    private static String post(String version, String body, String extraHeaders) {
        return "POST /v1/chat/completions " + version + "\r\nhost: t\r\ncontent-type: application/json\r\n"
                + extraHeaders + "content-length: " + body.length() + "\r\n\r\n" + body;
    }

    private static String direct(String body) throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.simulatorOrigin(), "/v1/chat/completions", body);
        return normalize(new String(r.body(), StandardCharsets.UTF_8));
    }

    private static String normalize(String body) {
        return body.replaceAll("\"created\":\\d+", "\"created\":0");
    }

    @Test
    void threePipelinedRequestsAreAnsweredInOrder() throws Exception {
        List<String> bodies = List.of(chat(3, false), chat(5, true), chat(7, false));
        try (Socket s = new Socket("127.0.0.1", fx.node.proxyPort())) {
            StringBuilder all = new StringBuilder();
            for (String b : bodies) {
                all.append(post("HTTP/1.1", b, ""));
            }
            OutputStream out = s.getOutputStream();
            out.write(all.toString().getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = new BufferedInputStream(s.getInputStream());
            for (String b : bodies) {
                Response r = Response.read(in);
                assertEquals("HTTP/1.1 200 OK", r.statusLine);
                assertEquals(direct(b), normalize(r.body), "answer to " + b);
            }
        }
    }

    @Test
    void morePipelinedRequestsThanTheQueueHoldsAreAllAnsweredInOrder() throws Exception {
        int n = ClientConnectionHandler.MAX_WAITING * 2 + 3;
        List<String> bodies = new ArrayList<>();
        StringBuilder all = new StringBuilder();
        for (int i = 1; i <= n; i++) {
            bodies.add(chat(i, i % 3 == 0));
            all.append(post("HTTP/1.1", bodies.get(i - 1), ""));
        }
        try (Socket s = new Socket("127.0.0.1", fx.node.proxyPort())) {
            s.getOutputStream().write(all.toString().getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            InputStream in = new BufferedInputStream(s.getInputStream());
            for (String b : bodies) {
                Response r = Response.read(in);
                assertEquals("HTTP/1.1 200 OK", r.statusLine);
                assertEquals(direct(b), normalize(r.body), "answer to " + b);
            }
        }
    }

    @Test
    void anHttp10StreamIsCloseDelimitedNotChunked() throws Exception {
        String body = chat(6, true);
        try (Socket s = new Socket("127.0.0.1", fx.node.proxyPort())) {
            s.getOutputStream().write(post("HTTP/1.0", body, "").getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            InputStream in = new BufferedInputStream(s.getInputStream());
            Response r = Response.read(in);
            assertEquals("HTTP/1.0 200 OK", r.statusLine);
            assertFalse(r.headers.containsKey("transfer-encoding"), r.headers.toString());
            assertFalse(r.headers.containsKey("content-length"), r.headers.toString());
            assertTrue(r.closeDelimited);
            assertEquals(direct(body), normalize(r.body));
        }
    }

    @Test
    void anHttp10JsonAnswerKeepsItsLength() throws Exception {
        String body = chat(4, false);
        try (Socket s = new Socket("127.0.0.1", fx.node.proxyPort())) {
            s.getOutputStream().write(post("HTTP/1.0", body, "").getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            InputStream in = new BufferedInputStream(s.getInputStream());
            Response r = Response.read(in);
            assertTrue(r.statusLine.endsWith(" 200 OK"), r.statusLine);
            assertFalse(r.headers.containsKey("transfer-encoding"), r.headers.toString());
            assertTrue(r.headers.containsKey("content-length"), r.headers.toString());
            assertEquals(direct(body), normalize(r.body));
            assertEquals(-1, in.read(), "an HTTP/1.0 request without keep-alive ends the connection");
        }
    }

    @Test
    void anHttp10KeepAliveClientKeepsItsConnectionForJsonAnswers() throws Exception {
        String first = chat(2, false);
        String second = chat(3, false);
        try (Socket s = new Socket("127.0.0.1", fx.node.proxyPort())) {
            OutputStream out = s.getOutputStream();
            InputStream in = new BufferedInputStream(s.getInputStream());
            out.write(post("HTTP/1.0", first, "connection: keep-alive\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            Response r1 = Response.read(in);
            assertEquals("keep-alive", r1.headers.get("connection"));
            assertEquals(direct(first), normalize(r1.body));
            out.write(post("HTTP/1.0", second, "connection: keep-alive\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            Response r2 = Response.read(in);
            assertEquals(direct(second), normalize(r2.body));
        }
    }

    /** One HTTP response read off a socket: chunked, with a content length, or up to the connection's end. */
    private record Response(String statusLine, Map<String, String> headers, String body, boolean closeDelimited) {
        static Response read(InputStream in) throws IOException {
            String status = RawHttp.readLine(in);
            Map<String, String> headers = new LinkedHashMap<>();
            String l;
            while (!(l = RawHttp.readLine(in)).isEmpty()) {
                int c = l.indexOf(':');
                headers.put(l.substring(0, c).trim().toLowerCase(), l.substring(c + 1).trim());
            }
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            boolean toEnd = false;
            if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
                int size;
                while ((size = Integer.parseInt(RawHttp.readLine(in).trim(), 16)) > 0) {
                    body.write(in.readNBytes(size));
                    RawHttp.readLine(in);
                }
                RawHttp.readLine(in);
            } else if (headers.containsKey("content-length")) {
                body.write(in.readNBytes(Integer.parseInt(headers.get("content-length"))));
            } else {
                body.write(in.readAllBytes());
                toEnd = true;
            }
            return new Response(status, headers, body.toString(StandardCharsets.UTF_8), toEnd);
        }
    }
}
