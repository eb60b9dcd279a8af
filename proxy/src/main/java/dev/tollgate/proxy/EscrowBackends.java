package dev.tollgate.proxy;

import dev.tollgate.escrow.port.EscrowPort;
import dev.tollgate.escrow.settle.SettlementConfig;
import dev.tollgate.proxy.config.ConfigException;

/** Picks the escrow backend the configuration names. */
final class EscrowBackends {
    private EscrowBackends() {
    }

    /** The remote backend, or null for the embedded ledger. */
    static EscrowPort forConfig(SettlementConfig cfg) {
        if (cfg.backend().equals("embedded")) {
            return null;
        }
        throw new ConfigException("settlement.backend '" + cfg.backend() + "' is not available yet; use embedded");
    }
}
