package dev.tollgate.escrow.purpleflea;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.escrow.settle.ConfigValues;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The Purple Flea backend's own settings from the {@code settlement:} section: each paying account's key
 * ({@code accounts.<acct>.purpleflea_api_key_env}, the instance-level key being the default) and the escrows'
 * timeout ({@code purpleflea_escrow_timeout_hours}, default 1, in [1, 720]: how soon the service refunds an
 * escrow nobody released). Keys of the embedded ledger that this backend cannot honour are errors
 * ({@link #rejectInapplicable}). Stateless.
 *
 * @param keys               which key pays for which account
 * @param keySources         where each account's key came from, for messages ({@code "*"} and {@code ""} for the
 *                           wildcard account and the instance-level key)
 * @param escrowTimeoutHours the escrows' {@code timeout_hours}
 */
public record PurpleFleaSettings(PurpleFleaKeys keys, Map<String, String> keySources, int escrowTimeoutHours) {
    private static final String ROOT = "settlement";

    /** Root keys that only the embedded ledger honours, and why. */
    private static final Map<String, String> ROOT_ONLY_EMBEDDED = Map.of(
            "fee_bps", "the service's fee is fixed (1% of each escrow)",
            "referrer_share_bps", "the service gives the payer's referrer 15% of its fee",
            "auto_release_hours", "use purpleflea_escrow_timeout_hours",
            "expiry", "the service refunds an unreleased escrow to the payer at its timeout",
            "faucet", "the faucet credits the embedded ledger, not Purple Flea wallets");
    /** Account keys that only the embedded ledger or pre-paid escrows honour. */
    private static final List<String> ACCOUNT_ONLY_EMBEDDED = List.of("fund", "referrer", "budget", "batch_calls",
            "batch_tokens", "batch_seconds", "when_exhausted");

    public PurpleFleaSettings {
        keySources = Map.copyOf(keySources);
    }

    /**
     * Reads the settings; {@code env} resolves environment variables. Throws {@link IllegalArgumentException}
     * naming the key's full path.
     */
    public static PurpleFleaSettings read(JsonNode settlement, String instanceKey, Function<String, String> env) {
        Map<String, String> keys = new HashMap<>();
        Map<String, String> sources = new HashMap<>();
        JsonNode accounts = settlement == null ? null : settlement.get("accounts");
        if (accounts != null && accounts.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = accounts.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String where = ROOT + ".accounts." + e.getKey();
                String var = ConfigValues.string(e.getValue(), where, "purpleflea_api_key_env", null);
                if (var == null) {
                    continue;
                }
                String key = env.apply(var);
                if (key == null || key.isBlank()) {
                    throw new IllegalArgumentException(where + ".purpleflea_api_key_env: the environment variable "
                            + var + " is not set");
                }
                keys.put(e.getKey(), key.trim());
                sources.put(e.getKey(), "$" + var);
            }
        }
        int hours = ConfigValues.intValue(settlement, ROOT, "purpleflea_escrow_timeout_hours", 1, 1, 720);
        return new PurpleFleaSettings(new PurpleFleaKeys(keys, instanceKey), sources, hours);
    }

    /** Rejects keys of the embedded ledger that the Purple Flea backend would silently ignore. */
    public static void rejectInapplicable(JsonNode settlement) {
        for (Map.Entry<String, String> e : ROOT_ONLY_EMBEDDED.entrySet()) {
            if (settlement.has(e.getKey())) {
                throw new IllegalArgumentException(ROOT + "." + e.getKey() + " does not apply to the purpleflea backend ("
                        + e.getValue() + "); remove it");
            }
        }
        JsonNode accounts = settlement.get("accounts");
        if (accounts != null && accounts.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = accounts.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                for (String k : ACCOUNT_ONLY_EMBEDDED) {
                    if (e.getValue().has(k)) {
                        throw new IllegalArgumentException(ROOT + ".accounts." + e.getKey() + "." + k + " does not "
                                + "apply to the purpleflea backend (it pays post-pay from the account's own Purple "
                                + "Flea wallet); remove it");
                    }
                }
            }
        }
    }
}
