package dev.tollgate.proxy.admin;

import dev.tollgate.escrow.settle.RemoteOperations;
import dev.tollgate.metering.agent.MeteringAgent;
import dev.tollgate.proxy.upstream.Upstream;
import dev.tollgate.proxy.upstream.UpstreamGroup;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * {@code /metrics}, {@code /healthz} and {@code /readyz} (with a remote settlement backend, {@code /readyz} also
 * reports settlement health: {@link SettlementReadiness}).
 */
public final class HealthRoutes implements AdminRoutes {
    private final MeteringAgent metering;
    private final UpstreamGroup upstreams;
    private final List<Consumer<StringBuilder>> extraMetrics;

    private final Supplier<RemoteOperations.Health> settlementHealth;

    public HealthRoutes(MeteringAgent metering, UpstreamGroup upstreams, List<Consumer<StringBuilder>> extraMetrics) {
        this(metering, upstreams, extraMetrics, null);
    }

    /** @param settlementHealth a remote settlement backend's health for {@code /readyz}, or null (embedded ledger) */
    public HealthRoutes(MeteringAgent metering, UpstreamGroup upstreams, List<Consumer<StringBuilder>> extraMetrics,
                        Supplier<RemoteOperations.Health> settlementHealth) {
        this.metering = metering;
        this.upstreams = upstreams;
        this.extraMetrics = List.copyOf(extraMetrics);
        this.settlementHealth = settlementHealth;
    }

    @Override
    public AdminResponse handle(HttpMethod method, QueryStringDecoder uri, byte[] body) {
        if (!method.equals(HttpMethod.GET)) {
            return null;
        }
        switch (uri.path()) {
            case "/metrics" -> {
                StringBuilder sb = new StringBuilder(8192);
                metering.writePrometheus(sb);
                writeUpstreams(sb);
                for (Consumer<StringBuilder> m : extraMetrics) {
                    m.accept(sb);
                }
                return new AdminResponse(200, AdminResponse.PROMETHEUS, sb.toString());
            }
            case "/healthz" -> {
                return AdminResponse.json(200, "{\"status\":\"ok\"}");
            }
            case "/readyz" -> {
                long now = System.nanoTime();
                // A node with only RunPod job upstreams has no relay upstream to be healthy.
                boolean any = upstreams.all().isEmpty() || upstreams.all().stream().anyMatch(u -> u.healthy(now));
                if (settlementHealth != null) {
                    return SettlementReadiness.readyz(any, settlementHealth.get());
                }
                return AdminResponse.json(any ? 200 : 503,
                        any ? "{\"status\":\"ready\"}" : "{\"status\":\"no healthy upstream\"}");
            }
            default -> {
                return null;
            }
        }
    }

    private void writeUpstreams(StringBuilder sb) {
        long now = System.nanoTime();
        sb.append("# HELP tollgate_upstream_outstanding_requests Requests in flight per upstream.\n");
        sb.append("# TYPE tollgate_upstream_outstanding_requests gauge\n");
        for (Upstream u : upstreams.all()) {
            sb.append("tollgate_upstream_outstanding_requests{upstream=\"").append(escape(u.name())).append("\"} ")
                    .append(u.outstanding()).append('\n');
        }
        sb.append("# HELP tollgate_upstream_healthy Whether an upstream takes requests (1) or is ejected (0).\n");
        sb.append("# TYPE tollgate_upstream_healthy gauge\n");
        for (Upstream u : upstreams.all()) {
            sb.append("tollgate_upstream_healthy{upstream=\"").append(escape(u.name())).append("\"} ")
                    .append(u.healthy(now) ? 1 : 0).append('\n');
        }
    }

    private static String escape(String v) {
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
