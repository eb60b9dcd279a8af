package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.escrow.pricing.Price;
import java.nio.file.Path;
import java.util.Map;

/**
 * Settlement configuration (from the {@code settlement:} section of the YAML, see {@link SettlementConfigReader}).
 *
 * @param dataDir           where the database lives
 * @param backend           {@code embedded} (default) or {@code purpleflea}
 * @param purpleFleaUrl     base URL of the Purple Flea escrow service (purpleflea backend)
 * @param purpleFleaKey     its API key (purpleflea backend)
 * @param fees              escrow fee and referrer share
 * @param minLockMicros     smallest escrow
 * @param autoReleaseMillis escrow lifetime before it expires
 * @param expiryRefunds     on expiry the remainder returns to the payer (else it is released to the payee)
 * @param faucet            the dev faucet may credit agents
 * @param prices            price per model; key {@code "*"} for every other model
 * @param accounts          policy per paying account; key {@code "*"} for every other account
 * @param durability        what a committed journal transaction survives (process death, or a power cut too)
 */
public record SettlementConfig(Path dataDir, String backend, String purpleFleaUrl, String purpleFleaKey, Fees fees,
                               long minLockMicros, long autoReleaseMillis, boolean expiryRefunds, boolean faucet,
                               Map<String, Price> prices, Map<String, AccountPolicy> accounts,
                               Database.Durability durability) {

    /** With the default durability (process death). */
    public SettlementConfig(Path dataDir, String backend, String purpleFleaUrl, String purpleFleaKey, Fees fees,
                            long minLockMicros, long autoReleaseMillis, boolean expiryRefunds, boolean faucet,
                            Map<String, Price> prices, Map<String, AccountPolicy> accounts) {
        this(dataDir, backend, purpleFleaUrl, purpleFleaKey, fees, minLockMicros, autoReleaseMillis, expiryRefunds,
                faucet, prices, accounts, Database.Durability.PROCESS);
    }

    public SettlementConfig {
        for (Map.Entry<String, AccountPolicy> e : accounts.entrySet()) {
            if (e.getValue().kind().pricedByModel() && prices.isEmpty()) {
                throw new IllegalArgumentException("settlement.accounts." + e.getKey() + ": the policy "
                        + e.getValue().kind().name().toLowerCase() + " charges per use but no price is configured; "
                        + "add settlement.prices (a \"*\" entry, or one per model)");
            }
            if (e.getValue().kind().pattern() && !backend.equals("embedded")) {
                throw new IllegalArgumentException("settlement.accounts." + e.getKey() + ": the policy "
                        + e.getValue().kind().name().toLowerCase() + " needs the embedded ledger (backend: embedded)");
            }
        }
    }

    /** The price of a model: its own entry, else the {@code "*"} entry, else null (the model has no price). */
    public Price priceOf(String model) {
        Price p = prices.get(model);
        return p != null ? p : prices.get("*");
    }

    public AccountPolicy policyOf(String account) {
        AccountPolicy p = accounts.get(account);
        return p != null ? p : accounts.getOrDefault("*", AccountPolicy.NONE);
    }

    /** No settlement at all: metering only. */
    public static SettlementConfig disabled(Path dataDir) {
        return new SettlementConfig(dataDir, "embedded", null, null, Fees.PURPLE_FLEA, 100_000, 24 * 3_600_000L, true,
                false, Map.of(), Map.of());
    }

    /** This configuration with the dev faucet on or off. */
    public SettlementConfig withFaucet(boolean on) {
        return new SettlementConfig(dataDir, backend, purpleFleaUrl, purpleFleaKey, fees, minLockMicros,
                autoReleaseMillis, expiryRefunds, on, prices, accounts, durability);
    }
}
