package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.proxy.config.ApiKeyConfig;
import dev.tollgate.proxy.http.ApiKeys;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.ProxyFixture;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A paying account asks for a model that no price matches (only "tollgate-sim-1" is priced, no "*"): 400 in the
 * OpenAI error shape with {@code param: "model"}, before anything is locked or sent upstream.
 */
class UnpricedModelTest {
    static ProxyFixture fx;

    @BeforeAll
    static void start() throws Exception {
        ObjectMapper m = new ObjectMapper();
        ObjectNode s = m.createObjectNode();
        s.putObject("prices").putObject("tollgate-sim-1").put("prompt_per_million", "1000")
                .put("completion_per_million", "3000");
        s.putObject("accounts").putObject("ag_payer").put("policy", "per_request").put("fund", "10.00");
        fx = ProxyFixture.start(SimulatorConfig.defaults(), c -> c.withSettlement(s)
                .withApiKeys(List.of(new ApiKeyConfig(ApiKeys.hash("sk-pay"), "ag_payer"))));
    }

    @AfterAll
    static void stop() throws Exception {
        fx.close();
    }

    @Test
    void anUnpricedModelIsRefusedWith400BeforeTheUpstream() throws Exception {
        long served = fx.simulator.requestsServed();
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions",
                "{\"model\":\"some-other-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                "authorization", "Bearer sk-pay", "content-type", "application/json");
        assertEquals(400, r.statusCode());
        JsonNode error = new ObjectMapper().readTree(new String(r.body(), StandardCharsets.UTF_8)).get("error");
        assertEquals("model", error.get("param").asText());
        assertEquals("invalid_request_error", error.get("type").asText());
        assertTrue(error.get("message").asText().contains("some-other-model"), error.toString());
        assertEquals(served, fx.simulator.requestsServed(), "nothing reached the upstream");
        assertEquals(10_000_000, fx.node.settlement().ledger().funds().available("ag_payer"), "nothing reserved");
        // The priced model goes through.
        HttpResponse<byte[]> ok = fx.post(fx.proxyOrigin(), "/v1/chat/completions",
                "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                "authorization", "Bearer sk-pay", "content-type", "application/json");
        assertEquals(200, ok.statusCode());
    }
}
