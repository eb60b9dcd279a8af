package dev.tollgate.proxy.admin;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.agent.MeteringAgent;
import dev.tollgate.metering.agent.UsageTotals;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.util.List;
import java.util.function.Function;

/**
 * {@code GET /admin/v1/requests/{id}} and {@code GET /admin/v1/usage?account=}. A request's record can be
 * enriched by later issues' views (settlement) through {@code extra}.
 */
public final class MeteringRoutes implements AdminRoutes {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String REQUESTS = "/admin/v1/requests/";

    private final MeteringAgent metering;
    private final Function<String, UsageRecord> durableLookup;
    private final List<RecordDecorator> decorators;

    /** Adds fields to a request's JSON (e.g. its settlement). */
    @FunctionalInterface
    public interface RecordDecorator {
        void decorate(String requestId, ObjectNode json);
    }

    public MeteringRoutes(MeteringAgent metering, Function<String, UsageRecord> durableLookup,
                          List<RecordDecorator> decorators) {
        this.metering = metering;
        this.durableLookup = durableLookup;
        this.decorators = List.copyOf(decorators);
    }

    @Override
    public AdminResponse handle(HttpMethod method, QueryStringDecoder uri, byte[] body) {
        String path = uri.path();
        if (method.equals(HttpMethod.GET) && path.startsWith(REQUESTS) && path.indexOf('/', REQUESTS.length()) < 0) {
            String id = path.substring(REQUESTS.length());
            metering.awaitAggregated(1_000); // What ended before this call (a response's end does not wait for it).
            UsageRecord r = metering.find(id);
            if (r == null && durableLookup != null) {
                r = durableLookup.apply(id);
            }
            if (r == null) {
                return AdminResponse.notFound("No request with id '" + id + "'.");
            }
            ObjectNode json = toJson(r);
            for (RecordDecorator d : decorators) {
                d.decorate(id, json);
            }
            return AdminResponse.json(200, json.toString());
        }
        if (method.equals(HttpMethod.GET) && path.equals("/admin/v1/usage")) {
            List<String> acc = uri.parameters().get("account");
            if (acc == null || acc.isEmpty() || acc.get(0).isBlank()) {
                return AdminResponse.badRequest("Query parameter 'account' is required.", "account");
            }
            metering.awaitAggregated(1_000);
            UsageTotals t = metering.totals(acc.get(0));
            ObjectNode json = JSON.createObjectNode();
            json.put("account", t.account());
            json.put("requests", t.requests());
            json.put("prompt_tokens", t.promptTokens());
            json.put("completion_tokens", t.completionTokens());
            json.put("total_tokens", t.promptTokens() + t.completionTokens());
            return AdminResponse.json(200, json.toString());
        }
        return null;
    }

    /** The admin JSON of a usage record. */
    public static ObjectNode toJson(UsageRecord r) {
        ObjectNode json = JSON.createObjectNode();
        json.put("request_id", r.requestId());
        json.put("account", r.account());
        json.put("upstream", r.upstream());
        json.put("model", r.model());
        json.put("route", r.route().path());
        json.put("stream", r.streamed());
        json.put("prompt_tokens", r.promptTokens());
        json.put("completion_tokens", r.completionTokens());
        json.put("total_tokens", r.totalTokens());
        json.put("usage_source", r.usageSource().wireName());
        putMillis(json, "ttft_ms", r.ttftNanos());
        putMillis(json, "duration_ms", r.durationNanos());
        putMillis(json, "upstream_ms", r.upstreamNanos());
        putMillis(json, "overhead_ms", r.overheadNanos());
        long mtps = r.milliTokensPerSecond();
        if (mtps < 0) {
            json.putNull("tokens_per_second");
        } else {
            json.put("tokens_per_second", new java.math.BigDecimal(mtps).movePointLeft(3));
        }
        json.put("outcome", r.outcome().wireName());
        json.put("status", r.httpStatus());
        json.put("started_at_ms", r.startEpochMillis());
        if (r.traceId() != null) {
            json.put("trace_id", r.traceId());
        }
        return json;
    }

    private static void putMillis(ObjectNode json, String field, long nanos) {
        if (nanos < 0) {
            json.putNull(field);
        } else {
            json.put(field, new java.math.BigDecimal(nanos).movePointLeft(6));
        }
    }
}
