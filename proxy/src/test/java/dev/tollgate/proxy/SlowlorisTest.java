package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.ProxyFixture;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

/**
 * A client that trickles its request one byte at a time (slowloris) gets 408 and is disconnected at the request
 * deadline, though each byte arrives well within the idle timeout; a normal client is served meanwhile.
 */
class SlowlorisTest {

    @Test
    void tricklingClientIsCutAtTheRequestDeadline() throws Exception {
        try (ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(),
                c -> c.withLimits(c.withDefaults().limits().withRequestReadTimeoutMillis(500)));
             Socket s = new Socket("127.0.0.1", fx.node.proxyPort())) {
            byte[] req = ("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-slow: "
                    + "a".repeat(200) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
            OutputStream out = s.getOutputStream();
            int sent = 0;
            try {
                // The attacker's pace: one byte every 50 ms would take 10 s for this request.
                for (; sent < req.length; sent++) {
                    out.write(req[sent]);
                    out.flush();
                    LockSupport.parkNanos(50_000_000L);
                    if (s.getInputStream().available() > 0) {
                        break;
                    }
                }
            } catch (IOException closed) {
                // The proxy hung up on the trickle: expected.
            }
            assertTrue(sent < req.length, "cut before the request was complete (" + sent + " of " + req.length + ")");
            InputStream in = s.getInputStream();
            byte[] head = in.readNBytes(12);
            assertEquals("HTTP/1.1 408", new String(head, StandardCharsets.US_ASCII));
            HttpResponse<byte[]> ok = fx.post(fx.proxyOrigin(), "/v1/chat/completions",
                    "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
            assertEquals(200, ok.statusCode());
        }
    }
}
