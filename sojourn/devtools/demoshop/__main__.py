from sojourn.devtools.demoshop import main

main()
