package dev.tollgate.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * An upstream that answers one request with a single SSE event whose content is {@code contentBytes} of
 * {@code 'x'}, then {@code data: [DONE]}, chunked, as fast as the proxy takes it. The body is generated, never
 * held: {@link #PREFIX}, the x's, {@link #SUFFIX}.
 */
public final class GiantEventUpstream implements AutoCloseable {
    public static final String PREFIX = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"";
    public static final String SUFFIX = "\"},\"finish_reason\":null}]}\n\ndata: [DONE]\n\n";

    private final ServerSocket server;
    private final long contentBytes;

    public GiantEventUpstream(long contentBytes) throws IOException {
        this.contentBytes = contentBytes;
        this.server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
        Thread t = new Thread(this::serve, "giant-event-upstream");
        t.setDaemon(true);
        t.start();
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getLocalPort() + "/v1";
    }

    /** Body bytes the stream carries. */
    public long bodyBytes() {
        return PREFIX.length() + contentBytes + SUFFIX.length();
    }

    private void serve() {
        try (Socket s = server.accept()) {
            InputStream in = s.getInputStream();
            if (!RawHttp.readRequest(in)) {
                return;
            }
            OutputStream out = s.getOutputStream();
            out.write(("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
                    + "connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            chunk(out, PREFIX.getBytes(StandardCharsets.US_ASCII), PREFIX.length());
            byte[] xs = new byte[1 << 20];
            Arrays.fill(xs, (byte) 'x');
            for (long left = contentBytes; left > 0; left -= xs.length) {
                chunk(out, xs, (int) Math.min(xs.length, left));
            }
            chunk(out, SUFFIX.getBytes(StandardCharsets.US_ASCII), SUFFIX.length());
            out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            s.shutdownOutput();
            in.read();
        } catch (IOException e) {
            // the proxy went away: the test says whether that was right
        }
    }

    private static void chunk(OutputStream out, byte[] b, int len) throws IOException {
        out.write((Integer.toHexString(len) + "\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(b, 0, len);
        out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
