package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.ProxyFixture;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** A client that hangs up mid-stream: the upstream is closed and what was served is metered. */
class ClientDisconnectTest {

    @Test
    void disconnectMidStreamRecordsWhatWasServed() throws Exception {
        try (ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults().withTokensPerSecond(200), c -> c)) {
            String body = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"long one\"}],"
                    + "\"max_tokens\":2000,\"stream\":true}";
            String requestId = null;
            int contentEvents = 0;
            try (Socket s = new Socket("127.0.0.1", fx.node.proxyPort())) {
                OutputStream out = s.getOutputStream();
                out.write(("POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
                        + "content-length: " + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
                out.flush();
                BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                String line;
                while ((line = in.readLine()) != null) {
                    if (line.toLowerCase().startsWith("x-tollgate-request-id:")) {
                        requestId = line.substring(line.indexOf(':') + 1).trim();
                    }
                    if (line.contains("\"content\":\" ")) {
                        contentEvents++;
                        if (contentEvents == 5) {
                            break;
                        }
                    }
                }
            }
            String id = requestId;
            UsageRecord r = fx.record(id);
            assertEquals(Outcome.CLIENT_DISCONNECTED, r.outcome());
            assertEquals(UsageSource.UPSTREAM, r.usageSource(), "continuous usage counts a cut stream exactly");
            assertTrue(r.completionTokens() >= 5 && r.completionTokens() < 2000, "served " + r.completionTokens());
            Await.until(() -> fx.node.upstreams().all().get(0).outstanding() == 0, Duration.ofSeconds(5),
                    "the upstream request to end");
        }
    }
}
