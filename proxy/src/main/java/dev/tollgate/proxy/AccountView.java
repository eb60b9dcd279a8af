package dev.tollgate.proxy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.agent.UsageTotals;
import dev.tollgate.proxy.admin.MeteringRoutes;
import dev.tollgate.proxy.admin.SettlementRoutes;
import dev.tollgate.proxy.http.OpenAiError;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;

/**
 * What a client may read about itself with its own API key, on the proxy's port:
 * {@code GET /tollgate/v1/usage} (its totals) and {@code GET /tollgate/v1/requests/{id}} (one of its requests,
 * with its settlement). Another account's request answers 404, as if it did not exist.
 *
 * <p>Threading: {@link #answerAsync} runs the lookup on the "tollgate-account-view" thread (the in-memory
 * metering index first, the journal only for requests no longer in it, and the settlement row: JDBC never runs on
 * an event loop) and hands the response back on the client's event loop.
 */
final class AccountView {
    static final String PREFIX = "/tollgate/v1/";
    private static final java.util.concurrent.ExecutorService VIEWS =
            java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "tollgate-account-view");
                t.setDaemon(true);
                return t;
            });

    private AccountView() {
    }

    /** Answers off the event loop; {@code reply} runs on {@code loop} with the response (it owns it). */
    static void answerAsync(ProxyServices services, String account, HttpMethod method, String path, String requestId,
                            ByteBufAllocator alloc, java.util.concurrent.Executor loop,
                            java.util.function.Consumer<FullHttpResponse> reply) {
        VIEWS.execute(() -> {
            FullHttpResponse r;
            try {
                // A response's end no longer waits for the metering thread: let it aggregate what ended before.
                services.metering().awaitAggregated(1_000);
                r = answer(services, account, method, path, requestId, alloc);
            } catch (RuntimeException e) {
                r = OpenAiError.response(alloc, HttpResponseStatus.SERVICE_UNAVAILABLE, requestId,
                        "The usage view is unavailable right now; try again.", "server_error", null, null);
            }
            FullHttpResponse response = r;
            loop.execute(() -> reply.accept(response));
        });
    }

    static FullHttpResponse answer(ProxyServices services, String account, HttpMethod method, String path,
                                   String requestId, ByteBufAllocator alloc) {
        if (!method.equals(HttpMethod.GET)) {
            return OpenAiError.response(alloc, HttpResponseStatus.METHOD_NOT_ALLOWED, requestId,
                    "Only GET is allowed here.", "invalid_request_error", null, null);
        }
        if (path.equals(PREFIX + "usage")) {
            UsageTotals t = services.metering().totals(account);
            return json(alloc, requestId, "{\"account\":\"" + t.account().replace("\"", "") + "\",\"requests\":"
                    + t.requests() + ",\"prompt_tokens\":" + t.promptTokens() + ",\"completion_tokens\":"
                    + t.completionTokens() + "}");
        }
        if (path.startsWith(PREFIX + "requests/")) {
            String id = path.substring((PREFIX + "requests/").length());
            UsageRecord r = services.metering().find(id);
            if (r == null && services.settlement() != null) {
                r = services.settlement().usage(id);
            }
            if (r == null || !r.account().equals(account)) {
                return OpenAiError.response(alloc, HttpResponseStatus.NOT_FOUND, requestId,
                        "No request with id '" + id + "'.", "not_found_error", null, null);
            }
            ObjectNode j = MeteringRoutes.toJson(r);
            if (services.settlement() != null) {
                services.settlement().settlement(id).ifPresent(s -> j.set("settlement", SettlementRoutes.settlementJson(s)));
            }
            return json(alloc, requestId, j.toString());
        }
        return OpenAiError.response(alloc, HttpResponseStatus.NOT_FOUND, requestId, "No route " + path + ".",
                "not_found_error", null, null);
    }

    private static FullHttpResponse json(ByteBufAllocator alloc, String requestId, String body) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                ByteBufUtil.writeUtf8(alloc, body));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
        r.headers().set(OpenAiError.REQUEST_ID_HEADER, requestId);
        return r;
    }
}
