package dev.tollgate.escrow.purpleflea;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.escrow.TestClock;
import dev.tollgate.escrow.pricing.Micros;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The fake answers as the Purple Flea service's published code does ({@code src/index.ts} at 0b7c3f7), so that
 * the tests that use it test against the service's behaviour: checked here over raw HTTP.
 */
class FakePurpleFleaTest {
    static final ObjectMapper JSON = new ObjectMapper();
    final TestClock clock = new TestClock();
    final HttpClient http = HttpClient.newHttpClient();
    FakePurpleFlea fake;

    @BeforeEach
    void start() throws Exception {
        fake = new FakePurpleFlea(clock);
        fake.fund("ag_a", Micros.parse("10"));
        fake.register("ag_b");
    }

    @AfterEach
    void stop() {
        fake.close();
    }

    private HttpResponse<String> post(String path, String key, String body, String forwardedFor) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(fake.baseUrl() + path))
                .POST(body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            b.header("authorization", "Bearer " + key);
        }
        if (forwardedFor != null) {
            b.header("x-forwarded-for", forwardedFor);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String create(String amount, String counterparty) {
        return "{\"amount_usd\":" + amount + ",\"description\":\"job 1\",\"counterparty_agent_id\":\"" + counterparty
                + "\",\"timeout_hours\":1}";
    }

    private static String error(HttpResponse<String> r) throws Exception {
        return r.statusCode() + " " + JSON.readTree(r.body()).path("error").asText();
    }

    @Test
    void createValidatesAsTheServiceDoes() throws Exception {
        assertEquals("401 unauthorized", error(post("/escrow/create", "wrong", create("1", "ag_b"), null)));
        assertEquals("400 invalid_amount", error(post("/escrow/create", "key-ag_a", create("0.09", "ag_b"), null)));
        assertEquals("400 invalid_counterparty", error(post("/escrow/create", "key-ag_a", create("1", "worker-1"), null)));
        assertEquals("400 self_escrow", error(post("/escrow/create", "key-ag_a", create("1", "ag_a"), null)));
        assertEquals("404 counterparty_not_found", error(post("/escrow/create", "key-ag_a", create("1", "ag_zz"), null)));
        assertEquals("402 insufficient_balance", error(post("/escrow/create", "key-ag_a", create("11", "ag_b"), null)));
        assertEquals(10_000_000, fake.balance("ag_a"), "no refusal debits");
    }

    @Test
    void onlyTheCreatorReleasesAndTheFeeIsRoundedHalfUp() throws Exception {
        HttpResponse<String> c = post("/escrow/create", "key-ag_a", create("0.10005", "ag_b"), null);
        assertEquals(201, c.statusCode());
        JsonNode e = JSON.readTree(c.body());
        assertEquals("0.001001", e.get("commission_usd").decimalValue().toPlainString(), "1% of 0.10005, half-up");
        String id = e.get("escrow_id").asText();
        assertEquals("403 forbidden", error(post("/escrow/release/" + id, "key-ag_b", null, null)));
        assertEquals(200, post("/escrow/release/" + id, "key-ag_a", null, null).statusCode());
        assertEquals("409 invalid_status", error(post("/escrow/release/" + id, "key-ag_a", null, null)));
        assertEquals(100_050 - 1_001, fake.balance("ag_b"));
    }

    @Test
    void createsAreLimitedTo20AMinutePerClientAddress() throws Exception {
        for (int i = 0; i < 20; i++) {
            assertEquals(201, post("/escrow/create", "key-ag_a", create("0.1", "ag_b"), "10.0.0.1").statusCode());
        }
        assertEquals("429 rate_limited", error(post("/escrow/create", "key-ag_a", create("0.1", "ag_b"), "10.0.0.1")));
        assertEquals(201, post("/escrow/create", "key-ag_a", create("0.1", "ag_b"), "10.0.0.2").statusCode(),
                "another address has its own budget");
        clock.advance(60_001);
        assertEquals(201, post("/escrow/create", "key-ag_a", create("0.1", "ag_b"), "10.0.0.1").statusCode(),
                "a new window");
    }

    @Test
    void aTimedOutEscrowIsRefundedToTheCreatorMinusTheFee() throws Exception {
        assertEquals(201, post("/escrow/create", "key-ag_a", create("1", "ag_b"), null).statusCode());
        clock.advance(3_599_999);
        assertEquals(0, fake.expireDue());
        clock.advance(1);
        assertEquals(1, fake.expireDue());
        assertEquals(10_000_000 - 10_000, fake.balance("ag_a"), "1 USDC back minus its 1% fee");
        assertEquals(0, fake.balance("ag_b"));
    }
}
