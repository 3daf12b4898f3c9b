from clreg_core.world.store import main

main()
