package dev.tollgate.proxy;

import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.metering.agent.MeteringAgent;
import dev.tollgate.proxy.agentapi.AgentApi;
import dev.tollgate.metering.tokens.TokenEstimator;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.http.ApiKeys;
import dev.tollgate.proxy.http.RequestIds;
import dev.tollgate.proxy.upstream.UpstreamConnector;
import dev.tollgate.proxy.upstream.UpstreamGroup;

/**
 * What every exchange of a node shares: limits, upstreams, the metering agent, the admission gate, the
 * gauge of bytes held by relays, the protocols that answer their own paths (RunPod jobs), the agent API.
 * Immutable; every member is thread-safe.
 */
public record ProxyServices(
        ProxyConfig.Limits limits,
        UpstreamGroup upstreams,
        UpstreamConnector connector,
        MeteringAgent metering,
        TokenEstimator tokens,
        RequestIds requestIds,
        ApiKeys apiKeys,
        AdmissionGate admission,
        SettlementService settlement,
        RelayGauge relayGauge,
        TraceLinking traces,
        java.util.List<ProtocolRoute> protocols,
        AgentApi agentApi) {

    /** The protocol that answers this canonical path instead of the OpenAI relay, or null. */
    public ProtocolRoute protocolFor(String path) {
        for (ProtocolRoute p : protocols) {
            if (p.handles(path)) {
                return p;
            }
        }
        return null;
    }
}
