package dev.tollgate.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * One HTTP/1.1 request written byte for byte on a fresh socket ({@code Connection: close}), for request lines
 * no client library would send (non-canonical paths, absolute-form targets, CONNECT, OPTIONS *).
 */
public final class RawHttp {
    /** The status, the raw head and the body of a response. */
    public record Response(int status, String head, String body) {
        public String header(String name) {
            for (String line : head.split("\r\n")) {
                int c = line.indexOf(':');
                if (c > 0 && line.substring(0, c).trim().toLowerCase(Locale.ROOT).equals(name.toLowerCase(Locale.ROOT))) {
                    return line.substring(c + 1).trim();
                }
            }
            return null;
        }
    }

    private RawHttp() {
    }

    /** Sends {@code method target} with the given body and headers ("name: value" each) to {@code baseUrl}'s host. */
    public static Response send(String baseUrl, String method, String target, String body, String... headers)
            throws IOException {
        URI u = URI.create(baseUrl);
        byte[] b = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        StringBuilder req = new StringBuilder();
        req.append(method).append(' ').append(target).append(" HTTP/1.1\r\n")
                .append("Host: ").append(u.getHost()).append(':').append(u.getPort()).append("\r\n")
                .append("Connection: close\r\n");
        for (String h : headers) {
            req.append(h).append("\r\n");
        }
        if (body != null) {
            req.append("Content-Type: application/json\r\nContent-Length: ").append(b.length).append("\r\n");
        }
        req.append("\r\n");
        try (Socket s = new Socket(u.getHost(), u.getPort())) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(req.toString().getBytes(StandardCharsets.ISO_8859_1));
            out.write(b);
            out.flush();
            InputStream in = s.getInputStream();
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            in.transferTo(all);
            String text = all.toString(StandardCharsets.UTF_8);
            int end = text.indexOf("\r\n\r\n");
            String head = end < 0 ? text : text.substring(0, end);
            String rest = end < 0 ? "" : text.substring(end + 4);
            int status = Integer.parseInt(head.substring(9, 12));
            Response r = new Response(status, head, rest);
            if ("chunked".equalsIgnoreCase(r.header("transfer-encoding"))) {
                return new Response(status, head, dechunk(rest));
            }
            return r;
        }
    }

    private static String dechunk(String s) {
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < s.length()) {
            int eol = s.indexOf("\r\n", i);
            int size = Integer.parseInt(s.substring(i, eol).split(";")[0].trim(), 16);
            if (size == 0) {
                break;
            }
            // Sizes count bytes; the bodies here are ASCII JSON/SSE except escaped text.
            out.append(s, eol + 2, eol + 2 + size);
            i = eol + 2 + size + 2;
        }
        return out.toString();
    }

    /** One line of an HTTP head, without its CR LF; end of stream before any byte is an IOException. */
    public static String readLine(InputStream in) throws IOException {
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

    /**
     * Reads one request (head, then a Content-Length body) as a test upstream receives it; false when the peer
     * closed first.
     */
    public static boolean readRequest(InputStream in) throws IOException {
        int state = 0;
        StringBuilder head = new StringBuilder();
        while (state < 4) {
            int b = in.read();
            if (b < 0) {
                return false;
            }
            head.append((char) b);
            state = (b == '\r' && (state == 0 || state == 2)) || (b == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
        }
        String h = head.toString().toLowerCase(Locale.ROOT);
        int i = h.indexOf("content-length:");
        in.readNBytes(i < 0 ? 0 : Integer.parseInt(h.substring(i + 15, h.indexOf('\r', i)).trim()));
        return true;
    }
}
