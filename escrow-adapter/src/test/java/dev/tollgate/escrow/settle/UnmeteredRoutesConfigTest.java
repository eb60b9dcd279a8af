package dev.tollgate.escrow.settle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code unmetered_routes}: deny by default for paid policies, pass for none, explicit values win. */
class UnmeteredRoutesConfigTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static SettlementConfig read(String json) throws Exception {
        return SettlementConfigReader.read(JSON.readTree(json), Path.of("unused"));
    }

    @Test
    void defaultsFollowThePolicyAndExplicitValuesWin() throws Exception {
        SettlementConfig c = read("{\"accounts\":{"
                + "\"a\":{\"policy\":\"per_request\"},\"b\":{\"policy\":\"stream_budget\"},\"c\":{\"policy\":\"none\"},"
                + "\"d\":{\"policy\":\"per_request\",\"unmetered_routes\":\"pass\"},"
                + "\"e\":{\"policy\":\"none\",\"unmetered_routes\":\"deny\"}},"
                + "\"prices\":{\"/v1/audio/transcriptions\":{\"per_request\":\"0.006\"}}}");
        assertTrue(c.policyOf("a").denyUnmetered());
        assertTrue(c.policyOf("b").denyUnmetered());
        assertFalse(c.policyOf("c").denyUnmetered());
        assertFalse(c.policyOf("d").denyUnmetered());
        assertTrue(c.policyOf("e").denyUnmetered());
        assertFalse(c.policyOf("not configured").denyUnmetered());
        assertEquals(6_000, c.priceOf("/v1/audio/transcriptions").microsPerRequest());
    }

    @Test
    void anyOtherValueIsAConfigError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> read("{\"accounts\":{\"a\":{\"policy\":\"per_request\",\"unmetered_routes\":\"maybe\"}}}"));
        assertTrue(e.getMessage().contains("unmetered_routes"));
    }
}
