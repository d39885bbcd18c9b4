"""Everything that speaks the Storeden Orders API: the client and the simulator."""
