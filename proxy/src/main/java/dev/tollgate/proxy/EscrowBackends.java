package dev.tollgate.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.port.EscrowPort;
import dev.tollgate.escrow.purpleflea.PurpleFleaEscrow;
import dev.tollgate.escrow.purpleflea.PurpleFleaSettings;
import dev.tollgate.escrow.purpleflea.PurpleFleaStartupCheck;
import dev.tollgate.escrow.settle.PolicyKind;
import dev.tollgate.escrow.settle.SettlementConfig;
import dev.tollgate.proxy.config.ConfigException;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/** Picks the escrow backend the configuration names, and checks a remote one before the node starts. */
final class EscrowBackends {
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

    private EscrowBackends() {
    }

    /** Builds the remote backend on the settlement database, or null for the embedded ledger (no checks). */
    static Function<Database, EscrowPort> forConfig(SettlementConfig cfg) {
        return forConfig(cfg, null, null);
    }

    /**
     * Builds the remote backend, or null for the embedded ledger. For Purple Flea, each paying account's key and
     * each worker are checked against the service first ({@link PurpleFleaStartupCheck}; skipped when
     * {@code workersByUpstream} is null): a failure is a {@link ConfigException} with a one-line reason.
     *
     * @param settlementNode    the raw {@code settlement:} section (per-account keys), or null
     * @param workersByUpstream upstream name to worker agent id, or null to skip the start-up check
     */
    static Function<Database, EscrowPort> forConfig(SettlementConfig cfg, JsonNode settlementNode,
                                                    Map<String, String> workersByUpstream) {
        if (cfg.backend().equals("embedded")) {
            return null;
        }
        if (cfg.purpleFleaUrl() == null) {
            throw new ConfigException("settlement.backend purpleflea needs purpleflea_url");
        }
        PurpleFleaSettings settings;
        try {
            settings = PurpleFleaSettings.read(settlementNode, cfg.purpleFleaKey(), System::getenv);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage());
        }
        URI base = URI.create(cfg.purpleFleaUrl());
        Set<String> paying = new TreeSet<>();
        cfg.accounts().forEach((account, policy) -> {
            if (policy.kind() != PolicyKind.NONE) {
                paying.add(account); // "*" too: the key every other account pays with is checked under that name.
            }
        });
        if (paying.isEmpty() && settings.keys().keyOf("*") == null) {
            throw new ConfigException("settlement.backend purpleflea needs purpleflea_api_key(_env), or "
                    + "purpleflea_api_key_env on each paying account");
        }
        if (workersByUpstream != null) {
            String problem = PurpleFleaStartupCheck.check(base, settings, paying, workersByUpstream, CALL_TIMEOUT);
            if (problem != null) {
                throw new ConfigException(problem);
            }
        }
        return db -> new PurpleFleaEscrow(base, settings.keys(), db, cfg.minLockMicros(), CALL_TIMEOUT,
                Clock.systemUTC(), settings.escrowTimeoutHours());
    }
}
