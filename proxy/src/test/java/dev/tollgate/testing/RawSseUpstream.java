package dev.tollgate.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A blocking-socket upstream that answers one request with an SSE stream of a fixed size, written as fast as
 * the kernel accepts it, and counts the bytes the kernel accepted. Its writes block when the proxy stops
 * reading, so {@link #written()} shows how much the proxy pulled.
 */
public final class RawSseUpstream implements AutoCloseable {
    public static final byte[] EVENT = ("data: {\"id\":\"chatcmpl-raw\",\"object\":\"chat.completion.chunk\","
            + "\"created\":1,\"model\":\"raw\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token\"},"
            + "\"logprobs\":null,\"finish_reason\":null}]}\n\n").getBytes(StandardCharsets.US_ASCII);

    private final ServerSocket server;
    private final Thread thread;
    private final long events;
    private final AtomicLong written = new AtomicLong();
    private volatile boolean finished;
    private volatile boolean cut;

    public RawSseUpstream(long events) throws IOException {
        this.events = events;
        this.server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
        this.thread = new Thread(this::serve, "raw-sse-upstream");
        this.thread.setDaemon(true);
        this.thread.start();
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getLocalPort() + "/v1";
    }

    /** Body bytes (SSE bytes, excluding chunked framing) the stream will carry. */
    public long bodyBytes() {
        return events * EVENT.length + "data: [DONE]\n\n".length();
    }

    public long written() {
        return written.get();
    }

    public boolean finished() {
        return finished;
    }

    /** Whether the proxy closed the connection before the stream was written in full. */
    public boolean cut() {
        return cut;
    }

    private void serve() {
        try (Socket s = server.accept()) {
            s.setSendBufferSize(64 * 1024);
            readRequest(s.getInputStream());
            OutputStream out = s.getOutputStream();
            out.write(("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
                    + "connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            int perChunk = 200;
            byte[] chunk = new byte[perChunk * EVENT.length];
            for (int i = 0; i < perChunk; i++) {
                System.arraycopy(EVENT, 0, chunk, i * EVENT.length, EVENT.length);
            }
            long left = events;
            while (left > 0) {
                int n = (int) Math.min(perChunk, left);
                int len = n * EVENT.length;
                out.write((Integer.toHexString(len) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(chunk, 0, len);
                out.write('\r');
                out.write('\n');
                written.addAndGet(len);
                left -= n;
            }
            byte[] done = "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);
            out.write((Integer.toHexString(done.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(done);
            out.write("\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            written.addAndGet(done.length);
            finished = true;
            s.shutdownOutput();
            s.getInputStream().read();
        } catch (IOException e) {
            // The proxy closed the connection: the test's assertions say whether that was right.
            cut = !finished;
        }
    }

    private static void readRequest(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int state = 0;
        while (state < 4) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("request cut short");
            }
            head.write(b);
            state = (b == '\r' && (state == 0 || state == 2)) || (b == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
        }
        String h = head.toString(StandardCharsets.US_ASCII).toLowerCase();
        int i = h.indexOf("content-length:");
        int len = i < 0 ? 0 : Integer.parseInt(h.substring(i + 15, h.indexOf('\r', i)).trim());
        in.readNBytes(len);
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
