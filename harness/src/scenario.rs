//! Scenario files (`*.scn`): a line-oriented, packetdrill-like text of socket calls with their
//! expected results and socket tables, and its JSON twin. See `docs/scenario-format.md`.
