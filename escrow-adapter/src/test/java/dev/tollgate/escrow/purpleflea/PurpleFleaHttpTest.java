package dev.tollgate.escrow.purpleflea;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * What is known about a call's delivery: a refused connection, a name that does not resolve and a failed TLS
 * handshake provably sent nothing; a request whose bytes were read and never answered is lost (ambiguous).
 */
class PurpleFleaHttpTest {
    @Test
    void connectionRefusedIsNotSent() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        PurpleFleaHttp.Answer a = new PurpleFleaHttp(URI.create("http://127.0.0.1:" + port), Duration.ofSeconds(2))
                .call("POST", "/escrow/create", "{}", "k");
        assertEquals(PurpleFleaHttp.Delivery.NOT_SENT, a.delivery(), a.error());
    }

    @Test
    void anUnresolvableNameIsNotSent() {
        PurpleFleaHttp.Answer a = new PurpleFleaHttp(URI.create("http://escrow.invalid"), Duration.ofSeconds(5))
                .call("POST", "/escrow/create", "{}", "k");
        assertEquals(PurpleFleaHttp.Delivery.NOT_SENT, a.delivery(), a.error());
    }

    @Test
    void aFailedTlsHandshakeIsNotSent() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread t = new Thread(() -> {
                try (Socket c = s.accept()) {
                    c.getInputStream().read(new byte[512]); // A ClientHello, answered in plain text.
                    OutputStream out = c.getOutputStream();
                    out.write("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                } catch (Exception e) {
                    // The client hung up.
                }
            });
            t.start();
            PurpleFleaHttp.Answer a = new PurpleFleaHttp(URI.create("https://127.0.0.1:" + s.getLocalPort()),
                    Duration.ofSeconds(5)).call("POST", "/escrow/create", "{}", "k");
            assertEquals(PurpleFleaHttp.Delivery.NOT_SENT, a.delivery(), a.error());
            t.join(5_000);
        }
    }

    @Test
    void aRequestReadAndNeverAnsweredIsLost() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread t = new Thread(() -> {
                try (Socket c = s.accept()) {
                    InputStream in = c.getInputStream();
                    byte[] buf = new byte[4096];
                    String seen = "";
                    while (!seen.contains("{}")) {
                        int n = in.read(buf);
                        if (n < 0) {
                            return;
                        }
                        seen += new String(buf, 0, n, StandardCharsets.US_ASCII);
                    }
                    // Read the whole request, then close without answering.
                } catch (Exception e) {
                    // The client hung up.
                }
            });
            t.start();
            PurpleFleaHttp.Answer a = new PurpleFleaHttp(URI.create("http://127.0.0.1:" + s.getLocalPort()),
                    Duration.ofSeconds(5)).call("POST", "/escrow/create", "{}", "k");
            assertEquals(PurpleFleaHttp.Delivery.LOST, a.delivery(), a.error());
            t.join(5_000);
        }
    }
}
