package dev.tollgate.proxy.agentapi;

import static dev.tollgate.proxy.agentapi.AgentApiNode.PAYER;
import static dev.tollgate.proxy.agentapi.AgentApiNode.PAYER_KEY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.escrow.ledger.LedgerBook;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.proxy.config.ConfigException;
import dev.tollgate.testing.Await;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The billing patterns configured per account and used by real requests through a real Tollgate: per_call,
 * a subscription's quota, milestone tranches released over the REST API; configuration errors. The worker is
 * the simulator upstream's {@code worker-1}; fee 1% of what it receives.
 */
class BillingPatternsProxyTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String WORKER = "worker-1";
    private final HttpClient http = HttpClient.newHttpClient();

    private HttpResponse<String> chat(AgentApiNode n) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(n.origin() + "/v1/chat/completions"))
                .header("Authorization", "Bearer " + PAYER_KEY).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":"
                        + "\"user\",\"content\":\"hello\"}],\"max_tokens\":8}")).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode send(AgentApiNode n, String method, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(n.origin() + path))
                .header("Authorization", "Bearer " + PAYER_KEY);
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        return JSON.readTree(http.send(b.build(), HttpResponse.BodyHandlers.ofString()).body());
    }

    private static ObjectNode payer(ObjectNode settlement) {
        return (ObjectNode) settlement.with("accounts").with(PAYER);
    }

    @Test
    void perCallChargesItsFlatPriceForEachRequest() throws Exception {
        try (AgentApiNode n = AgentApiNode.start(s -> payer(s).put("policy", "per_call").put("call_price", "0.25"))) {
            assertEquals(200, chat(n).statusCode());
            assertEquals(200, chat(n).statusCode());
            assertEquals(19_500_000L, n.node.settlement().statement(PAYER).balanceMicros());
            assertEquals(495_000L, n.node.settlement().statement(WORKER).balanceMicros(), "0.50 less the 1% fee");
            assertTrue(n.node.settlement().conservation().holds());
        }
    }

    @Test
    void aPerCallPriceTheBalanceNoLongerCoversIsOwedAndThePayerIs402UntilItIsPaid() throws Exception {
        try (AgentApiNode n = AgentApiNode.start(s -> payer(s).put("policy", "per_call").put("call_price", "0.25"))) {
            assertEquals(200, chat(n).statusCode());
            // Another process writing the same ledger (a CLI on the data directory) takes 19.60 of the 19.75
            // left: Tollgate's memory still sees 19.75, admits the next call, and its 0.25 cannot be paid.
            EmbeddedLedger other = new EmbeddedLedger(n.node.settlement().database(),
                    new LedgerBook(Fees.PURPLE_FLEA), Clock.systemUTC(), 100_000, true);
            assertTrue(other.pay("elsewhere", PAYER, AgentApiNode.OTHER, 19_600_000) instanceof EscrowResult.Done);
            assertEquals(200, chat(n).statusCode(), "admitted and served: its price is owed");
            // The price is written in the journal's next commit, just after the response: any read of the ledger
            // waits for that commit (a client sending at once may get one more call in, owed like this one).
            assertEquals(150_000L, n.node.settlement().statement(PAYER).balanceMicros());
            HttpResponse<String> owes = chat(n);
            assertEquals(402, owes.statusCode());
            JsonNode error = JSON.readTree(owes.body()).get("error");
            assertTrue(error.get("message").asText().contains("owes 0.250000 USDC"), owes.body());
            assertEquals(150_000L, n.node.settlement().statement(PAYER).balanceMicros());

            n.node.settlement().ledger().credit("topup", PAYER, 1_000_000);
            Await.until(() -> n.node.settlement().statement(PAYER).balanceMicros() == 900_000L,
                    Duration.ofSeconds(20), "the owed price paid on the settler's timer (1.15 - 0.25)");
            assertEquals(200, chat(n).statusCode(), "paid up: served again");
            Await.until(() -> n.node.settlement().statement(WORKER).balanceMicros() == 742_500L,
                    Duration.ofSeconds(10), "three calls of 0.25 less the 1% fee");
            assertTrue(n.node.settlement().conservation().holds());
        }
    }

    @Test
    void aSubscriptionAnswers402PastItsQuotaAndItsEscrowIsTheAgentsToSee() throws Exception {
        try (AgentApiNode n = AgentApiNode.start(s -> payer(s).put("policy", "subscription")
                .put("period_price", "10.00").put("period_hours", 168).put("quota", 1))) {
            assertEquals(200, chat(n).statusCode());
            HttpResponse<String> over = chat(n);
            assertEquals(402, over.statusCode());
            assertTrue(over.body().contains("quota of 1"), over.body());
            JsonNode list = send(n, "GET", "/api/v1/escrow", null);
            assertEquals(1, list.get("escrows").size());
            JsonNode period = list.at("/escrows/0");
            assertEquals("10.000000", period.get("amount").asText());
            assertEquals(WORKER, period.get("to_agent_id").asText());
            assertEquals(168, period.get("auto_release_hours").asInt());
            assertEquals("release", period.get("on_expiry").asText());
            assertEquals(10_000_000L, n.node.settlement().statement(PAYER).balanceMicros());
        }
    }

    @Test
    void milestoneTranchesAreReleasedByTheAgentOverRest() throws Exception {
        try (AgentApiNode n = AgentApiNode.start(s -> {
            ObjectNode p = payer(s).put("policy", "milestone").put("period_price", "4.00");
            p.putObject("milestones").put("spec_approved", 25).put("draft_delivered", 50).put("final_accepted", 25);
        })) {
            assertEquals(200, chat(n).statusCode());
            JsonNode project = send(n, "GET", "/api/v1/escrow", null).at("/escrows/0");
            assertEquals("4.000000", project.get("amount").asText());
            assertEquals("draft_delivered", project.at("/milestones/1/name").asText());
            assertEquals("2.000000", project.at("/milestones/1/amount").asText());
            String id = project.get("escrow_id").asText();
            JsonNode spec = send(n, "POST", "/api/v1/escrow/" + id + "/release-milestone",
                    "{\"milestone\":\"spec_approved\"}");
            assertEquals("1.000000", spec.get("released").asText());
            assertTrue(spec.at("/milestones/0/released").asBoolean());
            assertEquals("already_settled", send(n, "POST", "/api/v1/escrow/" + id + "/release-milestone",
                    "{\"milestone\":\"spec_approved\"}").at("/error/code").asText());
            assertEquals(990_000L, n.node.settlement().statement(WORKER).balanceMicros());
        }
    }

    @Test
    void aPatternWithoutItsTermsIsAConfigurationErrorNamingTheKey() {
        ConfigException e = assertThrows(ConfigException.class, () -> AgentApiNode.start(s -> payer(s)
                .put("policy", "hybrid").put("period_price", "5.00").put("quota", 100)));
        assertTrue(e.getMessage().contains("settlement.accounts.ag_payer.overage_price"), e.getMessage());
        ConfigException pct = assertThrows(ConfigException.class, () -> AgentApiNode.start(s -> {
            ObjectNode p = payer(s).put("policy", "milestone").put("period_price", "4.00");
            p.putObject("milestones").put("a", 50).put("b", 40);
        }));
        assertTrue(pct.getMessage().contains("add up to 100"), pct.getMessage());
    }
}
