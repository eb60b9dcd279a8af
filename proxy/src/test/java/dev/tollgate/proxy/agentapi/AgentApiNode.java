package dev.tollgate.proxy.agentapi;

import dev.tollgate.testing.NodeShutdown;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.proxy.TollgateNode;
import dev.tollgate.proxy.config.ApiKeyConfig;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.proxy.http.ApiKeys;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.simulator.SimulatorServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/**
 * A real Tollgate on loopback (with the simulator as its upstream) whose agents use the agent API: a funded
 * payer, a provider, and a third agent, each with its own API key. Restartable on the same data directory.
 */
final class AgentApiNode implements AutoCloseable {
    static final String PAYER = "ag_payer";
    static final String PAYER_KEY = "pf_live_payer";
    static final String PROVIDER = "ag_provider";
    static final String PROVIDER_KEY = "pf_live_provider";
    static final String OTHER = "ag_other";
    static final String OTHER_KEY = "pf_live_other";

    private final SimulatorServer simulator;
    private final Path dir;
    private final Consumer<ObjectNode> settlementTweak;
    TollgateNode node;

    private AgentApiNode(SimulatorServer simulator, Path dir, Consumer<ObjectNode> settlementTweak) {
        this.simulator = simulator;
        this.dir = dir;
        this.settlementTweak = settlementTweak;
    }

    static AgentApiNode start() throws Exception {
        return start(s -> { });
    }

    /** {@code settlementTweak} may change the settlement section (accounts, prices) before start. */
    static AgentApiNode start(Consumer<ObjectNode> settlementTweak) throws Exception {
        AgentApiNode n = new AgentApiNode(SimulatorServer.start(SimulatorConfig.defaults()),
                Files.createTempDirectory("tollgate-agentapi-"), settlementTweak);
        try {
            n.node = TollgateNode.start(n.config());
        } catch (Exception | Error e) {
            n.simulator.close();
            throw e;
        }
        return n;
    }

    private ProxyConfig config() {
        ObjectNode s = new ObjectMapper().createObjectNode();
        s.put("min_lock", "1.00");
        ObjectNode accounts = s.putObject("accounts");
        accounts.putObject(PAYER).put("fund", "20.00");
        accounts.putObject(OTHER).put("fund", "5.00");
        settlementTweak.accept(s);
        return ProxyConfig.empty().withListen("127.0.0.1:0").withAdmin("127.0.0.1:0").withDataDir(dir.toString())
                .withUpstreams(List.of(new UpstreamConfig("sim", simulator.baseUrl(), null, null, true, "worker-1")))
                .withSettlement(s).withApiKeys(List.of(new ApiKeyConfig(ApiKeys.hash(PAYER_KEY), PAYER),
                        new ApiKeyConfig(ApiKeys.hash(PROVIDER_KEY), PROVIDER),
                        new ApiKeyConfig(ApiKeys.hash(OTHER_KEY), OTHER)));
    }

    /** Stops the node and starts a new one on the same data directory (a new port). */
    void restart() throws Exception {
        NodeShutdown.closeChecked(node);
        node = TollgateNode.start(config());
    }

    /** {@code http://127.0.0.1:PORT}. */
    String origin() {
        return "http://127.0.0.1:" + node.proxyPort();
    }

    @Override
    public void close() {
        try {
            NodeShutdown.closeChecked(node);
        } finally {
            simulator.close();
        }
    }
}
