-- A Red-tier CLOSE_ALL halts entries for `risk.close_all_cooldown_secs` even once the margin
-- recovers; its end survives a restart of the risk role with the rest of the latched state.
ALTER TABLE risk_monitor_state ADD COLUMN cooldown_until TIMESTAMPTZ;
