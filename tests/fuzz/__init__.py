"""The fuzz net: random, well-typed requests for every RPC of the contract, on both backends."""
