package dev.tollgate.proxy.runpod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.escrow.ledger.Statement;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.PaidSetup;
import dev.tollgate.testing.RunPodFixture;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * RunPod's official JavaScript SDK ({@code runpod-sdk} 1.1.2 from npm, {@code src/test/js/runpod-sdk/check.mjs})
 * pointed at Tollgate works unchanged: {@code runSync} (also when it must poll {@code /status-sync}), {@code run}
 * with {@code stream} and {@code status}, {@code cancel}, {@code health}; and its jobs are paid. Needs node and the
 * SDK installed ({@code npm ci} in that folder, done by {@code .ci/run}); skipped otherwise.
 */
class RunPodSdkThroughProxyTest {
    private static final Path SCRIPT_DIR = Path.of("src/test/js/runpod-sdk");

    @Test
    void theOfficialJavaScriptSdkWorksThroughTollgate() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(SCRIPT_DIR.resolve("node_modules/runpod-sdk")),
                "runpod-sdk not installed: run npm ci in " + SCRIPT_DIR);
        try (RunPodFixture fx = RunPodFixture.start(c -> c)) {
            Statement before = fx.node.settlement().statement(PaidSetup.PAYER);
            Process p = new ProcessBuilder("node", "check.mjs", fx.origin() + "/v2", PaidSetup.PAY_KEY,
                    RunPodFixture.ENDPOINT).directory(SCRIPT_DIR.toFile()).redirectErrorStream(true).start();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the SDK script finished");
            String printed = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, p.exitValue(), printed);
            String[] lines = printed.strip().split("\n");
            JsonNode out = new ObjectMapper().readTree(lines[lines.length - 1]);
            assertEquals("COMPLETED", out.get("runSync").get("status").asText(), printed);
            assertTrue(out.get("runSync").get("completed").asBoolean());
            assertEquals(8, out.get("runSync").get("output").get(0).get("usage").get("completion_tokens").asInt());
            assertEquals("COMPLETED", out.get("runSyncSlow").get("status").asText(), printed);
            assertEquals("IN_QUEUE", out.get("stream").get("started").asText());
            String text = out.get("stream").get("text").asText();
            assertTrue(text.endsWith("data: [DONE]\n\n") && !text.contains("usage"), text);
            assertEquals("COMPLETED", out.get("stream").get("status").asText());
            assertEquals("CANCELLED", out.get("cancel").get("status").asText());
            assertTrue(out.get("health").get("hasJobs").asBoolean());
            // Three completed jobs of 4 + 8 tokens paid (28,000 micro-USDC each, plus the account's 5% throughput
            // bonus: 1,400 each); the cancelled one refunded; nothing left held.
            Await.until(() -> fx.node.runpod().jobsInFlight() == 0
                            && fx.node.settlement().statement(PaidSetup.PAYER).heldMicros() == 0,
                    Duration.ofSeconds(10), "jobs settled");
            fx.node.settlement().settleNow();
            Statement after = fx.node.settlement().statement(PaidSetup.PAYER);
            assertEquals(3 * (28_000 + 1_400), after.spentMicros() - before.spentMicros());
        }
    }
}
