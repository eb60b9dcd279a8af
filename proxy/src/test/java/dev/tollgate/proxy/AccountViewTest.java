package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.PaidSetup;
import dev.tollgate.testing.ProxyFixture;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/** An account reads its own usage and requests with its API key, and nobody else's. */
class AccountViewTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void eachAccountSeesOnlyItsOwnRequests() throws Exception {
        try (ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(), PaidSetup::apply)) {
            HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions",
                    "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"mine\"}],\"max_tokens\":6}",
                    "authorization", "Bearer " + PaidSetup.PAY_KEY);
            String id = r.headers().firstValue("x-tollgate-request-id").orElseThrow();
            fx.record(id);
            HttpResponse<String> own = fx.get(fx.proxyOrigin() + "/tollgate/v1/requests/" + id,
                    "authorization", "Bearer " + PaidSetup.PAY_KEY);
            assertEquals(200, own.statusCode());
            JsonNode j = JSON.readTree(own.body());
            assertEquals(PaidSetup.PAYER, j.get("account").asText());
            assertTrue(j.has("settlement"));
            HttpResponse<String> other = fx.get(fx.proxyOrigin() + "/tollgate/v1/requests/" + id,
                    "authorization", "Bearer " + PaidSetup.STREAM_KEY);
            assertEquals(404, other.statusCode(), "another account's request does not exist for this one");
            assertEquals(401, fx.get(fx.proxyOrigin() + "/tollgate/v1/usage").statusCode());
            JsonNode usage = JSON.readTree(fx.get(fx.proxyOrigin() + "/tollgate/v1/usage", "authorization",
                    "Bearer " + PaidSetup.STREAM_KEY).body());
            assertEquals(PaidSetup.STREAMER, usage.get("account").asText());
            assertEquals(0, usage.get("requests").asLong());
        }
    }
}
