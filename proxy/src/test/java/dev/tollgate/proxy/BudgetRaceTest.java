package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.proxy.config.ApiKeyConfig;
import dev.tollgate.proxy.http.ApiKeys;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.ProxyFixture;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * Many concurrent requests from one account against a small balance: the proxy reserves before it forwards,
 * so it admits exactly what the balance can lock, refuses the rest with 402 before any upstream call, and the
 * ledger never goes negative.
 */
class BudgetRaceTest {

    @Test
    void concurrentRequestsNeverLockMoreThanTheBalance() throws Exception {
        ObjectMapper m = new ObjectMapper();
        ObjectNode s = m.createObjectNode();
        s.putObject("prices").putObject("*").put("prompt_per_million", "1000").put("completion_per_million", "3000");
        // 0.35 USDC covers three 0.10 locks, not four.
        s.putObject("accounts").putObject("ag_tight").put("policy", "per_request").put("fund", "0.35");
        try (ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults().withTtftMillis(1500), c -> c
                .withSettlement(s).withApiKeys(List.of(new ApiKeyConfig(ApiKeys.hash("sk-tight"), "ag_tight"))))) {
            String body = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"race\"}],"
                    + "\"max_tokens\":5,\"stream\":true}";
            List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                all.add(fx.http.sendAsync(HttpRequest.newBuilder(URI.create(fx.proxyOrigin() + "/v1/chat/completions"))
                        .header("authorization", "Bearer sk-tight").header("content-type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()));
            }
            int ok = 0;
            int refused = 0;
            for (CompletableFuture<HttpResponse<String>> f : all) {
                int st = f.join().statusCode();
                ok += st == 200 ? 1 : 0;
                refused += st == 402 ? 1 : 0;
            }
            assertEquals(3, ok, "exactly what 0.35 USDC can lock at 0.10 a request");
            assertEquals(9, refused);
            assertEquals(3, fx.simulator.requestsServed(), "refused requests never reached the upstream");
            Await.until(() -> {
                fx.node.settlement().settleNow();
                return fx.node.settlement().unfinishedOperations() == 0
                        && fx.node.settlement().ledger().statement("ag_tight").heldMicros() == 0;
            }, Duration.ofSeconds(10), "settlement");
            long balance = fx.node.settlement().ledger().balance("ag_tight");
            assertTrue(balance >= 0 && balance < 350_000, "paid something, never below zero: " + balance);
            assertTrue(fx.node.settlement().conservation().holds());
        }
    }
}
