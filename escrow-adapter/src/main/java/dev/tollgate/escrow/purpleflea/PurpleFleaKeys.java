package dev.tollgate.escrow.purpleflea;

import java.util.Map;

/**
 * Which Purple Flea API key pays for which account: each paying account's own key
 * ({@code settlement.accounts.<acct>.purpleflea_api_key_env}), else the {@code "*"} account's, else the
 * instance-level key ({@code settlement.purpleflea_api_key(_env)}); null when none applies. The key is the
 * payer's identity on the service: an escrow is debited from the wallet of the key that creates it.
 *
 * @param byAccount account name to key ({@code "*"} for every other account)
 * @param fallback  the instance-level key, or null
 */
public record PurpleFleaKeys(Map<String, String> byAccount, String fallback) {
    public PurpleFleaKeys {
        byAccount = Map.copyOf(byAccount);
    }

    /** One key for every account. */
    public static PurpleFleaKeys single(String key) {
        return new PurpleFleaKeys(Map.of(), key);
    }

    public String keyOf(String account) {
        String k = byAccount.get(account);
        if (k == null) {
            k = byAccount.get("*");
        }
        return k != null ? k : fallback;
    }
}
