"""The NMPU and the tile behind AXI: AXI4-Stream data ports and an AXI4-Lite register block
built from one SystemRDL map (``nmpu_axi.rdl``); ``docs/integration.md``."""
