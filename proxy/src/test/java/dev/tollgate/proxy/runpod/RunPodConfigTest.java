package dev.tollgate.proxy.runpod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.proxy.TollgateNode;
import dev.tollgate.proxy.config.ConfigException;
import dev.tollgate.proxy.config.ConfigLoader;
import dev.tollgate.proxy.config.ProxyConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code kind: runpod} upstreams and the accounts' job terms: defaults, and one-line errors naming the key. */
class RunPodConfigTest {
    private static ProxyConfig load(String yaml) throws Exception {
        Path f = Files.createTempFile("tollgate-runpod-", ".yaml");
        Files.writeString(f, yaml);
        return ConfigLoader.load(f);
    }

    @Test
    void aRunPodUpstreamDefaultsToRunPodsApi() throws Exception {
        ProxyConfig c = load("upstreams:\n  - {kind: runpod, endpoint_id: abc123, api_key_env: RUNPOD_API_KEY}\n");
        assertEquals("https://api.runpod.ai", ConfigLoader.validate(c).upstreams().get(0).effectiveUrl());
        assertTrue(c.upstreams().get(0).isRunPod());
    }

    @Test
    void mistakesAreOneLineNamingTheKey() {
        var noEndpoint = assertThrows(ConfigException.class, () -> load("upstreams:\n  - {kind: runpod}\n"));
        assertTrue(noEndpoint.getMessage().contains("upstreams[0].endpoint_id is required for kind: runpod"),
                noEndpoint.getMessage());
        var badKind = assertThrows(ConfigException.class,
                () -> load("upstreams:\n  - {kind: runpd, endpoint_id: x}\n"));
        assertTrue(badKind.getMessage().contains("upstreams[0].kind"), badKind.getMessage());
        var badPoll = assertThrows(ConfigException.class,
                () -> load("upstreams:\n  - {kind: runpod, endpoint_id: x, poll_ms: \"fast\"}\n"));
        assertTrue(badPoll.getMessage().contains("upstreams[0].poll_ms"), badPoll.getMessage());
    }

    @Test
    void aBadJobBudgetStopsTheNodeNamingTheAccount() throws Exception {
        Path dir = Files.createTempDirectory("tollgate-runpod-cfg-");
        ProxyConfig c = load("listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndata_dir: " + dir + "\n"
                + "upstreams:\n  - {kind: runpod, endpoint_id: x, url: \"http://127.0.0.1:9\"}\n"
                + "settlement:\n  prices: {\"*\": {prompt_per_million: \"1\"}}\n"
                + "  accounts:\n    ag_1: {policy: per_request, job_budget: \"lots\"}\n");
        var e = assertThrows(ConfigException.class, () -> TollgateNode.start(c).close());
        assertTrue(e.getMessage().contains("settlement.accounts.ag_1.job_budget"), e.getMessage());
    }
}
