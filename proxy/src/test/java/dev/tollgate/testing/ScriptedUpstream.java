package dev.tollgate.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * An upstream that answers one request with bytes a test scripts: a chunked {@code text/event-stream} body, then
 * either the end of the body or silence with the connection left open.
 */
public final class ScriptedUpstream implements AutoCloseable {
    private final ServerSocket server;
    private volatile Socket accepted;

    public ScriptedUpstream(byte[] body, boolean endBody) throws IOException {
        server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
        Thread t = new Thread(() -> serve(body, endBody), "scripted-upstream");
        t.setDaemon(true);
        t.start();
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getLocalPort() + "/v1";
    }

    private void serve(byte[] body, boolean endBody) {
        try {
            Socket s = server.accept();
            accepted = s;
            InputStream in = s.getInputStream();
            if (!RawHttp.readRequest(in)) {
                return;
            }
            OutputStream out = s.getOutputStream();
            out.write(("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                    + Integer.toHexString(body.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
            if (endBody) {
                out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            }
            out.flush();
        } catch (IOException e) {
            // the proxy went away
        }
    }

    @Override
    public void close() throws IOException {
        Socket s = accepted;
        if (s != null) {
            s.close();
        }
        server.close();
    }
}
