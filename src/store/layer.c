/* Placeholder translation unit so an empty layer links; real code lands beside it. */
typedef int aim_layer_placeholder;
