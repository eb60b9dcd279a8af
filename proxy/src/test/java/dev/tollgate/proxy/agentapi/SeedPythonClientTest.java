package dev.tollgate.proxy.agentapi;

import static dev.tollgate.proxy.agentapi.AgentApiNode.PAYER;
import static dev.tollgate.proxy.agentapi.AgentApiNode.PAYER_KEY;
import static dev.tollgate.proxy.agentapi.AgentApiNode.PROVIDER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The billing-patterns seed's own Python client ({@code PurpleFleaBilling}, with the {@code requests} package),
 * its base URL pointed at Tollgate, runs the seed's sequence unchanged: lock 10.00, release 2.50 partially, read
 * the status, refund the rest; then lock 3.00 and release it whole. Needs a Python 3 with {@code requests}
 * ({@code .ci/run} installs Debian's python3-requests when none has it).
 */
class SeedPythonClientTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path SCRIPT = Path.of("src/test/python/seed_billing_client.py").toAbsolutePath();

    @Test
    void theSeedsPythonClientRunsUnchangedAgainstTollgate() throws Exception {
        String python = pythonWithRequests();
        Assumptions.assumeTrue(python != null, "no python3 with the requests package");
        try (AgentApiNode n = AgentApiNode.start()) {
            Process p = new ProcessBuilder(python, SCRIPT.toString(), n.origin() + "/api/v1", PAYER_KEY, PROVIDER)
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), out);
            JsonNode r = JSON.readTree(out.lines().reduce((a, b) -> b).orElseThrow());

            assertEquals("locked", r.at("/lock/status").asText(), out);
            assertEquals("10.000000", r.at("/lock/amount").asText());
            assertEquals(168, r.at("/lock/auto_release_hours").asInt());
            assertEquals("2.500000", r.at("/release_partial/released").asText());
            assertEquals("7.500000", r.at("/release_partial/remaining").asText());
            assertEquals("locked", r.at("/status/status").asText());
            assertEquals("2.500000", r.at("/status/released").asText());
            assertEquals("7.500000", r.at("/status/remaining").asText());
            assertEquals("settled", r.at("/refund/status").asText());
            assertEquals("7.500000", r.at("/refund/refunded").asText());
            assertEquals("0.000000", r.at("/refund/remaining").asText());
            assertEquals("released", r.at("/release_full/status").asText());
            assertEquals("3.000000", r.at("/release_full/released").asText());

            // Funded 20.00; paid 2.50 + 3.00. The provider nets each release less the 1% fee: 5.50 - 0.055.
            assertEquals(14_500_000L, n.node.settlement().statement(PAYER).balanceMicros());
            assertEquals(5_445_000L, n.node.settlement().statement(PROVIDER).balanceMicros());
            assertTrue(n.node.settlement().conservation().holds());
        }
    }

    /** The first of python3 on the PATH and Debian's own python3 that can import requests, or null. */
    private static String pythonWithRequests() throws InterruptedException {
        for (String candidate : List.of("python3", "/usr/bin/python3")) {
            try {
                Process p = new ProcessBuilder(candidate, "-c", "import requests").redirectErrorStream(true).start();
                p.getInputStream().readAllBytes();
                if (p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0) {
                    return candidate;
                }
            } catch (IOException e) {
                // Not installed: try the next.
            }
        }
        return null;
    }
}
