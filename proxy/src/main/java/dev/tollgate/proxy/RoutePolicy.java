package dev.tollgate.proxy;

import dev.tollgate.escrow.settle.SettlementConfig;
import dev.tollgate.metering.Route;
import io.netty.handler.codec.http.HttpMethod;
import java.util.Set;

/**
 * Classifies every request by method and canonical path ({@link RequestPath}), so that no route that makes
 * the upstream generate goes through unmetered by accident:
 * <ol>
 *   <li>{@link Treatment#FREE}: GET and HEAD (no vLLM GET route generates: {@code /v1/models}, {@code /health},
 *       {@code /version}, {@code /v1/responses/{id}}...), POST {@code /tokenize} and {@code /detokenize};</li>
 *   <li>{@link Treatment#TOKENS}: POST to a token-metered {@link Route} (chat completions, completions,
 *       embeddings, responses);</li>
 *   <li>{@link Treatment#PER_REQUEST}: a POST path with its own entry in {@code settlement.prices}
 *       (e.g. {@code "/v1/audio/transcriptions": {per_request: "0.006"}}), metered as
 *       {@link Route#PER_REQUEST};</li>
 *   <li>{@link Treatment#UNMETERED}: everything else, any method or path, known or not: the account's
 *       {@code unmetered_routes} decides ({@link #passesUnmetered}).</li>
 * </ol>
 *
 * <p>Stateless and thread-safe.
 */
final class RoutePolicy {
    /** POST paths that never generate. */
    static final Set<String> FREE_POST = Set.of("/tokenize", "/detokenize");

    /** How a request is treated. */
    enum Treatment { FREE, TOKENS, PER_REQUEST, UNMETERED }

    /** A classification: the treatment and, for metered ones, the route. */
    record Decision(Treatment treatment, Route route) {
        static final Decision FREE = new Decision(Treatment.FREE, null);
        static final Decision UNMETERED = new Decision(Treatment.UNMETERED, null);
        static final Decision PER_REQUEST = new Decision(Treatment.PER_REQUEST, Route.PER_REQUEST);
    }

    private RoutePolicy() {
    }

    /**
     * @param path     the canonical path
     * @param settlement the settlement configuration (its per-path prices), or null when there is none
     */
    static Decision classify(HttpMethod method, String path, SettlementConfig settlement) {
        if (HttpMethod.GET.equals(method) || HttpMethod.HEAD.equals(method)) {
            return Decision.FREE;
        }
        if (!HttpMethod.POST.equals(method)) {
            return Decision.UNMETERED;
        }
        Route route = Route.forPath(path);
        if (route != null) {
            return new Decision(Treatment.TOKENS, route);
        }
        if (FREE_POST.contains(path)) {
            return Decision.FREE;
        }
        if (settlement != null && settlement.prices().containsKey(path)) {
            return Decision.PER_REQUEST;
        }
        return Decision.UNMETERED;
    }

    /** Whether the account's {@code unmetered_routes} is {@code pass} (explicitly, or by its policy's default). */
    static boolean passesUnmetered(SettlementConfig settlement, String account) {
        return settlement == null || !settlement.policyOf(account).denyUnmetered();
    }

    /** The client-facing message of a 403 for an unmetered route. */
    static String deniedMessage(HttpMethod method, String path, String account) {
        return method.name() + " " + path + " is not a metered route, and account " + account
                + " does not pass unmetered routes through. An operator can price it per request "
                + "(settlement.prices.\"" + path + "\".per_request) or allow it unmetered "
                + "(settlement.accounts." + account + ".unmetered_routes: pass).";
    }
}
