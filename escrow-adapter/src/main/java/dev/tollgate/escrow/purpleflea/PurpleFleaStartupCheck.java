package dev.tollgate.escrow.purpleflea;

import java.net.URI;
import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Checks at start-up that every configured Purple Flea key is accepted by the service and that every worker is a
 * valid counterparty, so that a bad key fails the start instead of every payment. The service has no read that
 * is both authenticated and free of effects, so a key is checked by releasing an escrow that cannot exist
 * ({@code POST /escrow/release/esc_0000000000000000}): the service authenticates the caller first (401 for a
 * bad key) and then answers 404, changing nothing. A worker must be an agent id ({@code ag_...}, else the service
 * answers {@code invalid_counterparty}) and not a paying account itself ({@code self_escrow}); whether the agent
 * exists cannot be asked without creating an escrow, so a {@code counterparty_not_found} shows at the first
 * payment (503 to that account's clients, {@code /readyz} says why).
 *
 * <p>Threading: call once, at start-up.
 */
public final class PurpleFleaStartupCheck {
    static final String PROBE = "/escrow/release/esc_0000000000000000";

    private PurpleFleaStartupCheck() {
    }

    /**
     * Returns null when everything checks out, else a one-line reason naming the account (or worker).
     *
     * @param payingAccounts accounts that pay (their key must exist and be accepted)
     * @param workers        worker agent ids, by the upstream that names them
     */
    public static String check(URI base, PurpleFleaSettings settings, Collection<String> payingAccounts,
                               Map<String, String> workers, Duration timeout) {
        PurpleFleaHttp http = new PurpleFleaHttp(base, timeout);
        Map<String, String> keyOwner = new TreeMap<>();
        for (String account : new TreeSet<>(payingAccounts)) {
            String key = settings.keys().keyOf(account);
            if (key == null) {
                return "settlement.accounts." + account + ": no Purple Flea API key (set purpleflea_api_key_env on the "
                        + "account, or settlement.purpleflea_api_key_env)";
            }
            keyOwner.putIfAbsent(key, account);
        }
        for (Map.Entry<String, String> e : keyOwner.entrySet()) {
            String account = e.getValue();
            String source = settings.keySources().getOrDefault(account,
                    settings.keySources().containsKey("*") ? settings.keySources().get("*") : "the instance-level key");
            PurpleFleaHttp.Answer a = http.call("POST", PROBE, null, e.getKey());
            if (!a.answered()) {
                return "settlement.accounts." + account + ": cannot check its Purple Flea key (" + source + ") at "
                        + base + ": " + a.error();
            }
            if (a.status() == 401 || a.status() == 403) {
                return "settlement.accounts." + account + ": the Purple Flea service refused its API key (" + source
                        + "): " + a.status() + " " + a.code();
            }
            if (a.status() != 404 && a.status() != 429) {
                return "settlement.accounts." + account + ": unexpected answer checking its Purple Flea key (" + source
                        + "): HTTP " + a.status() + " " + a.code() + " (is " + base + " the escrow service?)";
            }
        }
        for (Map.Entry<String, String> w : new TreeMap<>(workers).entrySet()) {
            String worker = w.getValue();
            if (!worker.startsWith("ag_")) {
                return "upstream " + w.getKey() + ": worker \"" + worker + "\" is not a Purple Flea agent id (ag_...); "
                        + "set worker: on the upstream (the service would answer invalid_counterparty)";
            }
            if (payingAccounts.contains(worker)) {
                return "settlement.accounts." + worker + ": the account pays itself as the worker of upstream "
                        + w.getKey() + " (the service would answer self_escrow)";
            }
        }
        return null;
    }
}
